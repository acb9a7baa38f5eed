#include "ck_depthwise.h"
#include "ck_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <stdint.h>
#include <stdlib.h>

/// The smaller of two signed sizes.
static inline ptrdiff_t smaller(ptrdiff_t a, ptrdiff_t b) { return a < b ? a : b; }

/// True when input row `row` (negative or past the end in the padding) exists.
static inline int row_exists(const ck_depthwise_geometry *g, ptrdiff_t row) {
    return row >= 0 && row < (ptrdiff_t)g->height;
}

/// Floats of the shared row of zeros that stands for rows in the padding.
#define ZERO_ROW_FLOATS 4096
static const float zero_row[ZERO_ROW_FLOATS];

/// Input row `row`, or `zeros` (a row of width zeros) for a row in the padding.
static inline const float *input_row(const float *x, const ck_depthwise_geometry *g, const float *zeros, ptrdiff_t row) {
    return row_exists(g, row) ? x + (size_t)row * g->width : zeros;
}

static void depthwise_portable(const float *x, const ck_depthwise_geometry *g, const float *w, float bias, float *y) {
    for (size_t oh = 0; oh < g->out_h; oh++) {
        float *line = y + oh * g->out_w;
        for (size_t ow = 0; ow < g->out_w; ow++) {
            float sum = 0;
            for (size_t kh = 0; kh < g->kernel_h; kh++) {
                ptrdiff_t row = (ptrdiff_t)(oh * g->stride_h + kh * g->dilation_h) - (ptrdiff_t)g->pad_top;
                for (size_t kw = 0; kw < g->kernel_w; kw++) {
                    ptrdiff_t column = (ptrdiff_t)(ow * g->stride_w + kw * g->dilation_w) - (ptrdiff_t)g->pad_left;
                    float value = row_exists(g, row) && column >= 0 && column < (ptrdiff_t)g->width
                                      ? x[(size_t)row * g->width + (size_t)column] : 0;
                    sum += w[kh * g->kernel_w + kw] * value;
                }
            }
            line[ow] = sum + bias;
        }
    }
}

#if defined(__x86_64__)

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

/// The low `count` lanes (count ≤ 16).
static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// Lanes [lo, hi) of 16, clipped to [0, 16): the lanes of a load at input column s that fall
/// inside a row of `width` columns are span(−s, width − s).
static inline __mmask16 span(ptrdiff_t lo, ptrdiff_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (__mmask16)((0xFFFFu >> (16 - hi)) & (0xFFFFu << lo));
}

/// Bounds that apply Relu or Clip in registers as min(high, max(low, x)) (x second, so NaN
/// passes through); ±∞, the identity, for other activations, which run on the finished plane.
AVX512 static inline void clamp_bounds(const ck_depthwise_epilogue *e, __m512 *low, __m512 *high) {
    float lo = -__builtin_inff(), hi = __builtin_inff();
    if (e->has_activation && e->activation == CK_ACT_RELU) lo = 0;
    if (e->has_activation && e->activation == CK_ACT_CLIP) { lo = e->a; hi = e->b; }
    *low = _mm512_set1_ps(lo);
    *high = _mm512_set1_ps(hi);
}

/// sum + bias, clamped.
AVX512 static inline __m512 finish(__m512 sum, __m512 bias, __m512 low, __m512 high) {
    return _mm512_min_ps(high, _mm512_max_ps(low, _mm512_add_ps(sum, bias)));
}

/// Any kernel size and dilation, stride 1 or 2 along rows: 16 outputs of a row at a time, the
/// taps in row-major order. Loads are masked to the lanes inside the plane.
AVX512 static void depthwise_generic_avx512(const float *x, const ck_depthwise_geometry *g, const float *zeros,
                                            const float *w, float plane_bias, const ck_depthwise_epilogue *e, float *y) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 bias = _mm512_set1_ps(plane_bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    const ptrdiff_t width = (ptrdiff_t)g->width;
    for (size_t oh = 0; oh < g->out_h; oh++) {
        float *line = y + oh * g->out_w;
        for (size_t ow = 0; ow < g->out_w; ow += 16) {
            ptrdiff_t count = (ptrdiff_t)(g->out_w - ow < 16 ? g->out_w - ow : 16);
            __m512 sum = _mm512_setzero_ps();
            for (size_t kh = 0; kh < g->kernel_h; kh++) {
                ptrdiff_t r = (ptrdiff_t)(oh * g->stride_h + kh * g->dilation_h) - (ptrdiff_t)g->pad_top;
                const float *row = input_row(x, g, zeros, r);
                for (size_t kw = 0; kw < g->kernel_w; kw++) {
                    // Input column of lane 0 (of element 0 of the 32 read, at stride 2).
                    ptrdiff_t s = (ptrdiff_t)(ow * g->stride_w + kw * g->dilation_w) - (ptrdiff_t)g->pad_left;
                    __m512 v;
                    if (g->stride_w == 1) {
                        v = _mm512_maskz_loadu_ps(span(-s, smaller(count, width - s)), row + s);
                    } else {
                        // Lanes 2i of 32 consecutive floats; the last valid lane needs element 2(count−1).
                        ptrdiff_t end = smaller(2 * count - 1, width - s);
                        __m512 a = _mm512_maskz_loadu_ps(span(-s, end), row + s);
                        __m512 b = _mm512_maskz_loadu_ps(span(-s - 16, end - 16), row + s + 16);
                        v = _mm512_permutex2var_ps(a, even, b);
                    }
                    sum = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * g->kernel_w + kw]), v, sum);
                }
            }
            _mm512_mask_storeu_ps(line + ow, lanes((size_t)count), finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

/// The masks of a stride-1 3×3 window's three taps for the output vector whose lane 0 reads input
/// column s (and s + 1, s + 2), `count` lanes long.
typedef struct { __mmask16 tap[3]; } tap_masks;

static inline tap_masks masks_of_taps(ptrdiff_t s, ptrdiff_t count, ptrdiff_t width) {
    tap_masks m;
    for (int t = 0; t < 3; t++) m.tap[t] = span(-(s + t), smaller(count, width - (s + t)));
    return m;
}

/// The three taps of one weight row applied to input row `row` from column s (stride 1):
/// k0·x[s + i] + k1·x[s + i + 1] + k2·x[s + i + 2], with each load masked to its tap's lanes.
AVX512 static inline __m512 taps3(__m512 sum, const float *row, ptrdiff_t s, tap_masks m, __m512 k0, __m512 k1,
                                  __m512 k2) {
    sum = _mm512_fmadd_ps(k0, _mm512_maskz_loadu_ps(m.tap[0], row + s), sum);
    sum = _mm512_fmadd_ps(k1, _mm512_maskz_loadu_ps(m.tap[1], row + s + 1), sum);
    return _mm512_fmadd_ps(k2, _mm512_maskz_loadu_ps(m.tap[2], row + s + 2), sum);
}

/// Most 16-column blocks in an output row of the 3×3 stride-1 kernel (wider rows take the generic one).
#define S1_MAXIMUM_BLOCKS 64

/// 3×3, stride 1, no dilation: the nine weights stay in registers, and two output rows are
/// computed together so the two input rows they share are loaded once. Each output still sums
/// its taps in row-major order, as the generic kernel does.
AVX512 static void depthwise3x3s1_avx512(const float *x, const ck_depthwise_geometry *g, const float *zeros,
                                         const float *w, float plane_bias, const ck_depthwise_epilogue *e, float *y) {
    const __m512 k0 = _mm512_set1_ps(w[0]), k1 = _mm512_set1_ps(w[1]), k2 = _mm512_set1_ps(w[2]);
    const __m512 k3 = _mm512_set1_ps(w[3]), k4 = _mm512_set1_ps(w[4]), k5 = _mm512_set1_ps(w[5]);
    const __m512 k6 = _mm512_set1_ps(w[6]), k7 = _mm512_set1_ps(w[7]), k8 = _mm512_set1_ps(w[8]);
    const __m512 bias = _mm512_set1_ps(plane_bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    const ptrdiff_t width = (ptrdiff_t)g->width, left = (ptrdiff_t)g->pad_left;
    const size_t out_h = g->out_h, out_w = g->out_w;
    // The tap masks of each 16-column block, the same on every row.
    tap_masks masks[S1_MAXIMUM_BLOCKS];
    for (size_t ow = 0; ow < out_w; ow += 16)
        masks[ow / 16] = masks_of_taps((ptrdiff_t)ow - left, (ptrdiff_t)(out_w - ow < 16 ? out_w - ow : 16), width);
    size_t oh = 0;
    for (; oh + 2 <= out_h; oh += 2) {
        const ptrdiff_t top = (ptrdiff_t)oh - (ptrdiff_t)g->pad_top;
        const float *r0 = input_row(x, g, zeros, top), *r1 = input_row(x, g, zeros, top + 1),
                    *r2 = input_row(x, g, zeros, top + 2), *r3 = input_row(x, g, zeros, top + 3);
        float *line0 = y + oh * out_w, *line1 = line0 + out_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            const ptrdiff_t count = (ptrdiff_t)(out_w - ow < 16 ? out_w - ow : 16), s = (ptrdiff_t)ow - left;
            const tap_masks m = masks[ow / 16];
            __m512 b0 = _mm512_maskz_loadu_ps(m.tap[0], r1 + s), b1 = _mm512_maskz_loadu_ps(m.tap[1], r1 + s + 1),
                   b2 = _mm512_maskz_loadu_ps(m.tap[2], r1 + s + 2);
            __m512 c0 = _mm512_maskz_loadu_ps(m.tap[0], r2 + s), c1 = _mm512_maskz_loadu_ps(m.tap[1], r2 + s + 1),
                   c2 = _mm512_maskz_loadu_ps(m.tap[2], r2 + s + 2);
            __m512 upper = taps3(_mm512_setzero_ps(), r0, s, m, k0, k1, k2);
            upper = _mm512_fmadd_ps(k3, b0, upper);
            upper = _mm512_fmadd_ps(k4, b1, upper);
            upper = _mm512_fmadd_ps(k5, b2, upper);
            upper = _mm512_fmadd_ps(k6, c0, upper);
            upper = _mm512_fmadd_ps(k7, c1, upper);
            upper = _mm512_fmadd_ps(k8, c2, upper);
            __m512 lower = _mm512_fmadd_ps(k0, b0, _mm512_setzero_ps());
            lower = _mm512_fmadd_ps(k1, b1, lower);
            lower = _mm512_fmadd_ps(k2, b2, lower);
            lower = _mm512_fmadd_ps(k3, c0, lower);
            lower = _mm512_fmadd_ps(k4, c1, lower);
            lower = _mm512_fmadd_ps(k5, c2, lower);
            lower = taps3(lower, r3, s, m, k6, k7, k8);
            const __mmask16 store = lanes((size_t)count);
            _mm512_mask_storeu_ps(line0 + ow, store, finish(upper, bias, lower_bound, upper_bound));
            _mm512_mask_storeu_ps(line1 + ow, store, finish(lower, bias, lower_bound, upper_bound));
        }
    }
    if (oh < out_h) {
        const ptrdiff_t top = (ptrdiff_t)oh - (ptrdiff_t)g->pad_top;
        float *line = y + oh * out_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            const ptrdiff_t count = (ptrdiff_t)(out_w - ow < 16 ? out_w - ow : 16), s = (ptrdiff_t)ow - left;
            const tap_masks m = masks[ow / 16];
            __m512 sum = _mm512_setzero_ps();
            sum = taps3(sum, input_row(x, g, zeros, top), s, m, k0, k1, k2);
            sum = taps3(sum, input_row(x, g, zeros, top + 1), s, m, k3, k4, k5);
            sum = taps3(sum, input_row(x, g, zeros, top + 2), s, m, k6, k7, k8);
            _mm512_mask_storeu_ps(line + ow, lanes((size_t)count), finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

/// 3×3, stride 2, no dilation: each input row is loaded as 32 consecutive floats (plus the 33rd)
/// and split into the even lanes (taps 0 and 2) and odd lanes (tap 1) with permutes.
AVX512 static void depthwise3x3s2_avx512(const float *x, const ck_depthwise_geometry *g, const float *zeros,
                                         const float *w, float plane_bias, const ck_depthwise_epilogue *e, float *y) {
    const __m512 k[9] = {
        _mm512_set1_ps(w[0]), _mm512_set1_ps(w[1]), _mm512_set1_ps(w[2]), _mm512_set1_ps(w[3]), _mm512_set1_ps(w[4]),
        _mm512_set1_ps(w[5]), _mm512_set1_ps(w[6]), _mm512_set1_ps(w[7]), _mm512_set1_ps(w[8]),
    };
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    // Lanes 0–14 of the third tap are elements 2, 4, …, 30; lane 15 (element 32) is inserted after.
    const __m512i shifted = _mm512_set_epi32(0, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2);
    const __m512 bias = _mm512_set1_ps(plane_bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    const ptrdiff_t width = (ptrdiff_t)g->width;
    for (size_t oh = 0; oh < g->out_h; oh++) {
        float *line = y + oh * g->out_w;
        for (size_t ow = 0; ow < g->out_w; ow += 16) {
            const ptrdiff_t count = (ptrdiff_t)(g->out_w - ow < 16 ? g->out_w - ow : 16);
            // Output lane i needs elements 2i, 2i+1, 2i+2 of the 33 from column s: those inside the row.
            const ptrdiff_t s = (ptrdiff_t)(2 * ow) - (ptrdiff_t)g->pad_left, end = smaller(2 * count + 1, width - s);
            const __mmask16 low = span(-s, end), high = span(-s - 16, end - 16);
            const int has_last = -s <= 32 && 32 < end;
            __m512 sum = _mm512_setzero_ps();
            for (size_t kh = 0; kh < 3; kh++) {
                const ptrdiff_t r = (ptrdiff_t)(2 * oh + kh) - (ptrdiff_t)g->pad_top;
                const float *row = input_row(x, g, zeros, r);
                __m512 a = _mm512_maskz_loadu_ps(low, row + s), b = _mm512_maskz_loadu_ps(high, row + s + 16);
                float last = has_last ? row[s + 32] : 0.0f;
                __m512 third = _mm512_mask_broadcastss_ps(_mm512_permutex2var_ps(a, shifted, b), 0x8000, _mm_set_ss(last));
                sum = _mm512_fmadd_ps(k[3 * kh], _mm512_permutex2var_ps(a, even, b), sum);
                sum = _mm512_fmadd_ps(k[3 * kh + 1], _mm512_permutex2var_ps(a, odd, b), sum);
                sum = _mm512_fmadd_ps(k[3 * kh + 2], third, sum);
            }
            _mm512_mask_storeu_ps(line + ow, lanes((size_t)count), finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

#endif

/// Most 16-float blocks of output in a plane taken by the flat kernel, and most taps. Larger
/// planes are faster on the row kernels: each flat load also loads its mask, and a 14×14 plane's
/// 13 blocks took 1.5× as long (7×7 planes: 1.6× faster than rows of 7 lanes).
#define FLAT_MAXIMUM_BLOCKS 4
#define FLAT_MAXIMUM_TAPS 25
/// Blocks the flat kernel computes together.
#define FLAT_GROUP 4

/// True when the flat kernel applies: stride 1 and rows as wide as the input's, so every tap reads
/// the input at a fixed offset from its output's position in the plane, and a small plane.
static int flat_applies(const ck_depthwise_geometry *g) {
    return g->stride_h == 1 && g->stride_w == 1 && g->out_w == g->width && g->kernel_h * g->kernel_w <= FLAT_MAXIMUM_TAPS &&
           g->out_h * g->out_w <= 16 * FLAT_MAXIMUM_BLOCKS;
}

#if defined(__x86_64__)

/// Where each tap of a flat plane reads: the offset from the output's index in the plane, and for
/// every 16-output block the lanes whose input lies inside the plane (the others are padding).
typedef struct {
    size_t taps, blocks;
    ptrdiff_t offset[FLAT_MAXIMUM_TAPS];
    __mmask16 lanes[FLAT_MAXIMUM_BLOCKS * FLAT_MAXIMUM_TAPS];  ///< block · taps + tap (none past the last block)
} flat_plan;

static void plan_flat(const ck_depthwise_geometry *g, flat_plan *plan) {
    const size_t count = g->out_h * g->out_w;
    plan->taps = g->kernel_h * g->kernel_w;
    plan->blocks = (count + 15) / 16;
    const size_t grouped = (plan->blocks + FLAT_GROUP - 1) / FLAT_GROUP * FLAT_GROUP;
    for (size_t kh = 0; kh < g->kernel_h; kh++)
        for (size_t kw = 0; kw < g->kernel_w; kw++) {
            const size_t t = kh * g->kernel_w + kw;
            const ptrdiff_t dr = (ptrdiff_t)(kh * g->dilation_h) - (ptrdiff_t)g->pad_top;
            const ptrdiff_t dc = (ptrdiff_t)(kw * g->dilation_w) - (ptrdiff_t)g->pad_left;
            plan->offset[t] = dr * (ptrdiff_t)g->width + dc;
            for (size_t block = 0; block < grouped; block++) {
                unsigned bits = 0;
                for (size_t lane = 0; lane < 16; lane++) {
                    const size_t i = block * 16 + lane;
                    const ptrdiff_t row = (ptrdiff_t)(i / g->out_w) + dr, column = (ptrdiff_t)(i % g->out_w) + dc;
                    if (i < count && row >= 0 && row < (ptrdiff_t)g->height && column >= 0 && column < (ptrdiff_t)g->width)
                        bits |= 1u << lane;
                }
                plan->lanes[block * plan->taps + t] = (__mmask16)bits;
            }
        }
}

/// A small stride-1 plane whose rows are as wide as the input's, computed as one flat vector of
/// outputs: output i reads input i + offset[tap], masked where the tap falls in the padding. A
/// 7×7 plane is 4 blocks of 16 instead of 7 rows of 7 lanes each; the taps are summed in
/// row-major order, as in the other kernels.
AVX512 static void depthwise_flat_avx512(const float *x, const ck_depthwise_geometry *g, const flat_plan *plan,
                                         const float *w, float plane_bias, const ck_depthwise_epilogue *e, float *y) {
    const __m512 bias = _mm512_set1_ps(plane_bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    const size_t count = g->out_h * g->out_w, taps = plan->taps;
    // Four blocks at a time, so four sums are in flight (blocks past the last have no lanes).
    for (size_t block = 0; block < plan->blocks; block += FLAT_GROUP) {
        const float *origin = x + block * 16;
        const __mmask16 *lanes_of_taps = plan->lanes + block * taps;
        __m512 sum[FLAT_GROUP];
#pragma clang loop unroll(full)
        for (int b = 0; b < FLAT_GROUP; b++) sum[b] = _mm512_setzero_ps();
        for (size_t t = 0; t < taps; t++) {
            const __m512 weight = _mm512_set1_ps(w[t]);
            const float *source = origin + plan->offset[t];
#pragma clang loop unroll(full)
            for (int b = 0; b < FLAT_GROUP; b++)
                sum[b] = _mm512_fmadd_ps(weight, _mm512_maskz_loadu_ps(lanes_of_taps[(size_t)b * taps + t], source + 16 * b), sum[b]);
        }
#pragma clang loop unroll(full)
        for (int b = 0; b < FLAT_GROUP; b++) {
            const size_t first = (block + (size_t)b) * 16;
            if (first < count) _mm512_mask_storeu_ps(y + first, lanes(count - first), finish(sum[b], bias, lower_bound, upper_bound));
        }
    }
}

#endif

/// The kernel that computes planes of geometry `g`.
typedef enum { KERNEL_PORTABLE, KERNEL_GENERIC, KERNEL_FLAT, KERNEL_3X3_S1, KERNEL_3X3_S2 } plane_kernel;

static plane_kernel kernel_for(const ck_depthwise_geometry *g) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= CK_LEVEL_AVX512 && (g->stride_w == 1 || g->stride_w == 2)) {
        if (flat_applies(g)) return KERNEL_FLAT;
        int plain3x3 = g->kernel_h == 3 && g->kernel_w == 3 && g->dilation_h == 1 && g->dilation_w == 1 &&
                       g->stride_h == g->stride_w;
        if (plain3x3 && g->stride_w == 1 && g->out_w <= 16 * S1_MAXIMUM_BLOCKS) return KERNEL_3X3_S1;
        if (plain3x3 && g->stride_w == 2) return KERNEL_3X3_S2;
        return KERNEL_GENERIC;
    }
#endif
    (void)g;
    return KERNEL_PORTABLE;
}

void ck_depthwise_f32(const float *x, const ck_depthwise_geometry *g, const float *w, size_t channels,
                      size_t shuffle_groups, const ck_depthwise_epilogue *e, size_t plane_begin, size_t plane_end,
                      float *y) {
    plane_kernel kernel = kernel_for(g);
    // Rows wider than the shared row of zeros get a row of their own (or the portable kernel,
    // which needs none, when there is no memory for it).
    float *own_zeros = kernel != KERNEL_PORTABLE && g->width > ZERO_ROW_FLOATS ? calloc(g->width, sizeof(float)) : NULL;
    if (kernel != KERNEL_PORTABLE && g->width > ZERO_ROW_FLOATS && !own_zeros) kernel = KERNEL_PORTABLE;
    const float *zeros = own_zeros ? own_zeros : zero_row;
#if defined(__x86_64__)
    flat_plan flat;
    if (kernel == KERNEL_FLAT) plan_flat(g, &flat);
#endif
    // The AVX-512 kernels apply Relu and Clip in registers; other functions (and every function
    // after the portable kernel) run once per plane, while it is still in cache.
    int clamped = kernel != KERNEL_PORTABLE && (e->activation == CK_ACT_RELU || e->activation == CK_ACT_CLIP);
    const size_t in_plane = g->height * g->width, out_plane = g->out_h * g->out_w, taps = g->kernel_h * g->kernel_w;
    for (size_t p = plane_begin; p < plane_end; p++) {
        const size_t c = p % channels;
        const size_t source = shuffle_groups > 1 ? c % shuffle_groups * (channels / shuffle_groups) + c / shuffle_groups : c;
        const float *plane = x + (p - c + source) * in_plane, *weights = w + c * taps;
        const float bias = e->bias ? e->bias[c] : 0;
        float *out = y + p * out_plane;
        switch (kernel) {
#if defined(__x86_64__)
        case KERNEL_FLAT: depthwise_flat_avx512(plane, g, &flat, weights, bias, e, out); break;
        case KERNEL_3X3_S1: depthwise3x3s1_avx512(plane, g, zeros, weights, bias, e, out); break;
        case KERNEL_3X3_S2: depthwise3x3s2_avx512(plane, g, zeros, weights, bias, e, out); break;
        case KERNEL_GENERIC: depthwise_generic_avx512(plane, g, zeros, weights, bias, e, out); break;
#endif
        default: depthwise_portable(plane, g, weights, bias, out); break;
        }
        if (e->has_activation && !clamped) ck_activation_f32(e->activation, e->a, e->b, out, out, out_plane);
    }
    free(own_zeros);
}
