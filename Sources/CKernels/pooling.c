#include "ck_pooling.h"
#include "ck_cpu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Each output row is pooled in two steps. First the window's input rows are combined column by
// column (max or sum) into a line buffer that holds the padding as identity values (-infinity or
// 0) on both sides; then every output takes the window's columns from that line, which needs no
// border tests, and for averages divides by the tap count. With AVX-512, rows of up to 128
// columns keep the combined row in registers instead (`pool_rows_avx512`).

/// What a window computes: its maximum (NaN-propagating) or its sum (divided afterwards).
typedef enum { POOL_MAX, POOL_AVERAGE } pool_mode;

/// Extra identity values after the line, so SIMD loads for the last outputs stay inside it.
enum { LINE_SLACK = 64 };

/// For one output position along an axis: the first window tap inside the input, how many taps
/// are inside the input, and how many inside the input and its explicit padding.
typedef struct { size_t first, count, padded; } axis_taps;

/// The divisor of an average: the taps counted, or 1 when there are none (the sum is then 0).
static float average_divisor(axis_taps t, int count_include_pad) {
    size_t n = count_include_pad ? t.padded : t.count;
    return n > 0 ? (float)n : 1;
}

// MARK: Portable

/// max(acc, x) that gives NaN when either is NaN.
static inline float max_keep_nan(float acc, float x) { return (x > acc || x != x) ? x : acc; }

/// One step of the window reduction: max or add.
static inline float portable_combine(pool_mode mode, float acc, float x) {
    return mode == POOL_MAX ? max_keep_nan(acc, x) : acc + x;
}

/// out[w] = combination of rows[r·row_step + w] over r < rows, for w < width.
static void combine_rows_portable(pool_mode mode, const float *first_row, size_t row_step, size_t rows,
                                  size_t width, float *out) {
    for (size_t w = 0; w < width; w++) {
        float acc = first_row[w];
        for (size_t r = 1; r < rows; r++) acc = portable_combine(mode, acc, first_row[r * row_step + w]);
        out[w] = acc;
    }
}

/// How combine_columns finishes each output: as is (divisors NULL), or divided by
/// row_divisor · divisors[o] (averages; divisors has LINE_SLACK readable values past the outputs).
typedef struct { const float *divisors; float row_divisor; } column_scale;

/// out[o] = combination of line[o·stride + k·dilation] over k < kernel, for o < count, scaled.
static void combine_columns_portable(pool_mode mode, const float *line, size_t count, size_t stride,
                                     size_t kernel, size_t dilation, column_scale scale, float *out) {
    for (size_t o = 0; o < count; o++) {
        const float *p = line + o * stride;
        float acc = p[0];
        for (size_t k = 1; k < kernel; k++) acc = portable_combine(mode, acc, p[k * dilation]);
        out[o] = scale.divisors ? acc / (scale.row_divisor * scale.divisors[o]) : acc;
    }
}

/// The combination of p[0..<count], or the identity when count is 0.
static float reduce_portable(pool_mode mode, const float *p, size_t count) {
    float acc = mode == POOL_MAX ? -INFINITY : 0;
    for (size_t i = 0; i < count; i++) acc = portable_combine(mode, acc, p[i]);
    return acc;
}

#if defined(__x86_64__)

// MARK: AVX-512

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

/// The first `count` lanes (all for 16 or more).
static inline __mmask16 lanes_of(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// One step of the window reduction on 16 lanes.
AVX512 static inline __m512 avx512_combine(pool_mode mode, __m512 acc, __m512 x) {
    if (mode == POOL_AVERAGE) return _mm512_add_ps(acc, x);
    // Where x is a number, max(x, acc), which returns acc when acc is NaN; elsewhere x (NaN).
    return _mm512_mask_max_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_ORD_Q), x, acc);
}

/// combine_rows_portable on 16 columns at a time; the tail uses masked loads and stores.
AVX512 static void combine_rows_avx512(pool_mode mode, const float *first_row, size_t row_step, size_t rows,
                                       size_t width, float *out) {
    size_t w = 0;
    for (; w + 16 <= width; w += 16) {
        __m512 acc = _mm512_loadu_ps(first_row + w);
        for (size_t r = 1; r < rows; r++)
            acc = avx512_combine(mode, acc, _mm512_loadu_ps(first_row + r * row_step + w));
        _mm512_storeu_ps(out + w, acc);
    }
    if (w < width) {
        __mmask16 mask = (__mmask16)((1u << (width - w)) - 1);
        __m512 acc = _mm512_maskz_loadu_ps(mask, first_row + w);
        for (size_t r = 1; r < rows; r++)
            acc = avx512_combine(mode, acc, _mm512_maskz_loadu_ps(mask, first_row + r * row_step + w));
        _mm512_mask_storeu_ps(out + w, mask, acc);
    }
}

/// p[0], p[stride], …, p[15·stride] for stride 1 or 2.
AVX512 static inline __m512 avx512_load_strided(const float *p, size_t stride) {
    if (stride == 1) return _mm512_loadu_ps(p);
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
}

/// combine_columns_portable on 16 outputs at a time for strides 1 and 2.
AVX512 static void combine_columns_avx512(pool_mode mode, const float *line, size_t count, size_t stride,
                                          size_t kernel, size_t dilation, column_scale scale, float *out) {
    if (stride > 2) {
        combine_columns_portable(mode, line, count, stride, kernel, dilation, scale, out);
        return;
    }
    for (size_t o = 0; o < count; o += 16) {
        const float *p = line + o * stride;
        __m512 acc = avx512_load_strided(p, stride);
        for (size_t k = 1; k < kernel; k++) acc = avx512_combine(mode, acc, avx512_load_strided(p + k * dilation, stride));
        if (scale.divisors)
            acc = _mm512_div_ps(acc, _mm512_mul_ps(_mm512_set1_ps(scale.row_divisor), _mm512_loadu_ps(scale.divisors + o)));
        if (o + 16 <= count) _mm512_storeu_ps(out + o, acc);
        else _mm512_mask_storeu_ps(out + o, (__mmask16)((1u << (count - o)) - 1), acc);
    }
}

/// reduce_portable with 16 partial results, combined at the end.
AVX512 static float reduce_avx512(pool_mode mode, const float *p, size_t count) {
    __m512 acc = _mm512_set1_ps(mode == POOL_MAX ? -INFINITY : 0);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) acc = avx512_combine(mode, acc, _mm512_loadu_ps(p + i));
    float lanes[16];
    _mm512_storeu_ps(lanes, acc);
    float tail = reduce_portable(mode, p + i, count - i);
    return portable_combine(mode, tail, reduce_portable(mode, lanes, 16));
}

/// Most 16-float blocks of an input row `pool_rows_avx512` holds in registers (128 columns).
enum { ROW_BLOCKS = 8 };

/// Lanes [d, d + 16) of the row held in `row` (blocks of 16 columns; columns before 0 or past
/// the blocks are `identity`), for any d: the two blocks that hold them, permuted together.
AVX512 static inline __m512 avx512_row_window(const __m512 *row, ptrdiff_t blocks, ptrdiff_t d, __m512 identity) {
    const ptrdiff_t q = d >= 0 ? d / 16 : -((15 - d) / 16), r = d - 16 * q;
    const __m512 low = q >= 0 && q < blocks ? row[q] : identity;
    const __m512 high = q + 1 >= 0 && q + 1 < blocks ? row[q + 1] : identity;
    const __m512i index = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)r));
    return _mm512_permutex2var_ps(low, index, high);
}

/// Pools planes whose input rows fit ROW_BLOCKS vectors, with column stride 1, in registers:
/// the window's input rows are combined into `blocks` vectors, and each tap of the window's
/// columns is a permutation of two of them. No line buffer, no per-row calls:
/// small planes (Inception's 14×14 and 7×7 average pools) spent most of their time in those.
AVX512 static void pool_rows_avx512(pool_mode mode, const ck_pool2d_geometry *g, const axis_taps *rows,
                                    const float *column_divisors, int count_include_pad, const float *src, float *dst,
                                    size_t planes) {
    const __m512 identity = _mm512_set1_ps(mode == POOL_MAX ? -INFINITY : 0);
    const ptrdiff_t blocks = (ptrdiff_t)((g->in_w + 15) / 16);
    const __mmask16 tail = lanes_of(g->in_w - 16 * (size_t)(blocks - 1));
    const ptrdiff_t dilation = (ptrdiff_t)g->dilation_w, left = (ptrdiff_t)g->pad_left;
    for (size_t plane = 0; plane < planes; plane++) {
        const float *plane_src = src + plane * g->in_h * g->in_w;
        float *out = dst + plane * g->out_h * g->out_w;
        for (size_t oh = 0; oh < g->out_h; oh++, out += g->out_w) {
            const axis_taps t = rows[oh];
            __m512 row[ROW_BLOCKS];
            for (ptrdiff_t b = 0; b < blocks; b++) {
                const __mmask16 mask = b == blocks - 1 ? tail : 0xFFFF;
                __m512 acc = identity;
                const float *p = plane_src + t.first * g->in_w + 16 * (size_t)b;
                for (size_t r = 0; r < t.count; r++, p += g->dilation_h * g->in_w)
                    acc = avx512_combine(mode, acc, _mm512_mask_loadu_ps(identity, mask, p));
                row[b] = acc;
            }
            const __m512 row_divisor = _mm512_set1_ps(average_divisor(t, count_include_pad));
            for (size_t o = 0; o < g->out_w; o += 16) {
                __m512 acc = identity;
                for (size_t k = 0; k < g->kernel_w; k++) {
                    // Input column of output lane 0 for this tap.
                    const ptrdiff_t d = (ptrdiff_t)o + (ptrdiff_t)k * dilation - left;
                    acc = avx512_combine(mode, acc, avx512_row_window(row, blocks, d, identity));
                }
                if (mode == POOL_AVERAGE)
                    acc = _mm512_div_ps(acc, _mm512_mul_ps(row_divisor, _mm512_loadu_ps(column_divisors + o)));
                if (o + 16 <= g->out_w) _mm512_storeu_ps(out + o, acc);
                else _mm512_mask_storeu_ps(out + o, lanes_of(g->out_w - o), acc);
            }
        }
    }
}

// MARK: AVX2

#define AVX2 __attribute__((target("avx2,fma")))

/// One step of the window reduction on 8 lanes.
AVX2 static inline __m256 avx2_combine(pool_mode mode, __m256 acc, __m256 x) {
    if (mode == POOL_AVERAGE) return _mm256_add_ps(acc, x);
    // max(x, acc) returns acc when acc is NaN; NaN lanes of x are blended in afterwards.
    return _mm256_blendv_ps(_mm256_max_ps(x, acc), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/// combine_rows_portable on 8 columns at a time; the tail is scalar.
AVX2 static void combine_rows_avx2(pool_mode mode, const float *first_row, size_t row_step, size_t rows,
                                   size_t width, float *out) {
    size_t w = 0;
    for (; w + 8 <= width; w += 8) {
        __m256 acc = _mm256_loadu_ps(first_row + w);
        for (size_t r = 1; r < rows; r++)
            acc = avx2_combine(mode, acc, _mm256_loadu_ps(first_row + r * row_step + w));
        _mm256_storeu_ps(out + w, acc);
    }
    combine_rows_portable(mode, first_row + w, row_step, rows, width - w, out + w);
}

/// p[0], p[stride], …, p[7·stride] for stride 1 or 2.
AVX2 static inline __m256 avx2_load_strided(const float *p, size_t stride) {
    if (stride == 1) return _mm256_loadu_ps(p);
    // Even lanes of both halves, [p0 p2 p8 p10 | p4 p6 p12 p14], then the middle 64-bit pairs swapped.
    __m256 evens = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(evens), _MM_SHUFFLE(3, 1, 2, 0)));
}

/// combine_columns_portable on 8 outputs at a time for strides 1 and 2.
AVX2 static void combine_columns_avx2(pool_mode mode, const float *line, size_t count, size_t stride,
                                      size_t kernel, size_t dilation, column_scale scale, float *out) {
    if (stride > 2) {
        combine_columns_portable(mode, line, count, stride, kernel, dilation, scale, out);
        return;
    }
    for (size_t o = 0; o < count; o += 8) {
        const float *p = line + o * stride;
        __m256 acc = avx2_load_strided(p, stride);
        for (size_t k = 1; k < kernel; k++) acc = avx2_combine(mode, acc, avx2_load_strided(p + k * dilation, stride));
        if (scale.divisors)
            acc = _mm256_div_ps(acc, _mm256_mul_ps(_mm256_set1_ps(scale.row_divisor), _mm256_loadu_ps(scale.divisors + o)));
        if (o + 8 <= count) {
            _mm256_storeu_ps(out + o, acc);
        } else {
            float tail[8];
            _mm256_storeu_ps(tail, acc);
            memcpy(out + o, tail, (count - o) * sizeof(float));
        }
    }
}

/// reduce_portable with 8 partial results, combined at the end.
AVX2 static float reduce_avx2(pool_mode mode, const float *p, size_t count) {
    __m256 acc = _mm256_set1_ps(mode == POOL_MAX ? -INFINITY : 0);
    size_t i = 0;
    for (; i + 8 <= count; i += 8) acc = avx2_combine(mode, acc, _mm256_loadu_ps(p + i));
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    float tail = reduce_portable(mode, p + i, count - i);
    return portable_combine(mode, tail, reduce_portable(mode, lanes, 8));
}

#endif

// MARK: Dispatch

/// combine_rows_portable at SIMD level `level`.
static void combine_rows(int level, pool_mode mode, const float *first_row, size_t row_step, size_t rows,
                         size_t width, float *out) {
#if defined(__x86_64__)
    switch (level) {
    case CK_LEVEL_AVX512: combine_rows_avx512(mode, first_row, row_step, rows, width, out); return;
    case CK_LEVEL_AVX2: combine_rows_avx2(mode, first_row, row_step, rows, width, out); return;
    default: break;
    }
#endif
    combine_rows_portable(mode, first_row, row_step, rows, width, out);
}

/// combine_columns_portable at SIMD level `level`.
static void combine_columns(int level, pool_mode mode, const float *line, size_t count, size_t stride,
                            size_t kernel, size_t dilation, column_scale scale, float *out) {
#if defined(__x86_64__)
    switch (level) {
    case CK_LEVEL_AVX512: combine_columns_avx512(mode, line, count, stride, kernel, dilation, scale, out); return;
    case CK_LEVEL_AVX2: combine_columns_avx2(mode, line, count, stride, kernel, dilation, scale, out); return;
    default: break;
    }
#endif
    combine_columns_portable(mode, line, count, stride, kernel, dilation, scale, out);
}

/// reduce_portable at SIMD level `level`.
static float reduce(int level, pool_mode mode, const float *p, size_t count) {
#if defined(__x86_64__)
    switch (level) {
    case CK_LEVEL_AVX512: return reduce_avx512(mode, p, count);
    case CK_LEVEL_AVX2: return reduce_avx2(mode, p, count);
    default: break;
    }
#endif
    return reduce_portable(mode, p, count);
}

// MARK: Driver


/// The taps of every output position along one axis.
static void fill_axis_taps(axis_taps *taps, size_t input, size_t output, size_t kernel, size_t stride,
                           size_t dilation, size_t pad_begin, size_t pad_end) {
    const ptrdiff_t low = -(ptrdiff_t)pad_begin, high = (ptrdiff_t)(input + pad_end);
    for (size_t o = 0; o < output; o++) {
        axis_taps t = {0, 0, 0};
        for (size_t k = 0; k < kernel; k++) {
            ptrdiff_t p = (ptrdiff_t)(o * stride + k * dilation) - (ptrdiff_t)pad_begin;
            if (p >= low && p < high) t.padded++;
            if (p >= 0 && p < (ptrdiff_t)input) {
                if (t.count == 0) t.first = (size_t)p;
                t.count++;
            }
        }
        taps[o] = t;
    }
}

/// p[0..<count] = value.
static void fill_floats(float *p, float value, size_t count) {
    for (size_t i = 0; i < count; i++) p[i] = value;
}


/// Pools `planes` planes row by row (see the top of the file); the tables and the line buffer
/// are built once per call.
static void pool2d(pool_mode mode, int count_include_pad, const ck_pool2d_geometry *g,
                   const float *src, float *dst, size_t planes) {
    if (planes == 0 || g->out_h == 0 || g->out_w == 0) return;
    const int level = ck_cpu_level();
    const float identity = mode == POOL_MAX ? -INFINITY : 0;
    // Line index i holds input column i − pad_left; output o reads line[o·stride + k·dilation].
    const size_t line_length = (g->out_w - 1) * g->stride_w + (g->kernel_w - 1) * g->dilation_w + 1;
    const size_t columns_read = line_length > g->pad_left
        ? (g->in_w < line_length - g->pad_left ? g->in_w : line_length - g->pad_left) : 0;

    axis_taps *rows = malloc(g->out_h * sizeof(axis_taps));
    axis_taps *columns = malloc(g->out_w * sizeof(axis_taps));
    float *line = malloc((line_length + LINE_SLACK) * sizeof(float));
    float *column_divisors = malloc((g->out_w + LINE_SLACK) * sizeof(float));
    fill_axis_taps(rows, g->in_h, g->out_h, g->kernel_h, g->stride_h, g->dilation_h, g->pad_top, g->pad_bottom);
    fill_axis_taps(columns, g->in_w, g->out_w, g->kernel_w, g->stride_w, g->dilation_w, g->pad_left, g->pad_right);
    for (size_t o = 0; o < g->out_w + LINE_SLACK; o++)
        column_divisors[o] = o < g->out_w ? average_divisor(columns[o], count_include_pad) : 1;
    fill_floats(line, identity, line_length + LINE_SLACK);

#if defined(__x86_64__)
    // Stride 2 stays on the line buffer: its strided loads from L1 beat two windows and a
    // permutation per tap (112×112 max pool: 0.13 against 0.24 ms).
    if (level == CK_LEVEL_AVX512 && g->in_w <= 16 * ROW_BLOCKS && g->stride_w == 1) {
        pool_rows_avx512(mode, g, rows, column_divisors, count_include_pad, src, dst, planes);
        planes = 0;
    }
#endif
    for (size_t plane = 0; plane < planes; plane++) {
        const float *plane_src = src + plane * g->in_h * g->in_w;
        float *out = dst + plane * g->out_h * g->out_w;
        for (size_t oh = 0; oh < g->out_h; oh++, out += g->out_w) {
            const axis_taps t = rows[oh];
            if (t.count == 0)
                fill_floats(line + g->pad_left, identity, columns_read);
            else
                combine_rows(level, mode, plane_src + t.first * g->in_w, g->dilation_h * g->in_w, t.count,
                             columns_read, line + g->pad_left);
            const column_scale scale = {
                mode == POOL_AVERAGE ? column_divisors : NULL, average_divisor(t, count_include_pad)};
            combine_columns(level, mode, line, g->out_w, g->stride_w, g->kernel_w, g->dilation_w, scale, out);
        }
    }
    free(rows);
    free(columns);
    free(line);
    free(column_divisors);
}

void ck_max_pool2d_f32(const ck_pool2d_geometry *geometry, const float *src, float *dst, size_t planes) {
    pool2d(POOL_MAX, 0, geometry, src, dst, planes);
}

void ck_average_pool2d_f32(const ck_pool2d_geometry *geometry, int count_include_pad,
                           const float *src, float *dst, size_t planes) {
    pool2d(POOL_AVERAGE, count_include_pad, geometry, src, dst, planes);
}

void ck_global_max_pool_f32(const float *src, float *dst, size_t planes, size_t size) {
    const int level = ck_cpu_level();
    for (size_t p = 0; p < planes; p++) dst[p] = reduce(level, POOL_MAX, src + p * size, size);
}

void ck_global_average_pool_f32(const float *src, float *dst, size_t planes, size_t size) {
    const int level = ck_cpu_level();
    for (size_t p = 0; p < planes; p++) dst[p] = reduce(level, POOL_AVERAGE, src + p * size, size) / (float)size;
}
