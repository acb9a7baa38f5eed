#include "ck_winograd.h"
#include "ck_cpu.h"

#include <stdlib.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// F(4×4, 3×3) with interpolation points 0, ±1, ±2, ∞ (Lavin & Gray). The 2-D transforms are
// the 1-D ones applied to the columns of a tile, then to the rows of the result:
//   Bᵀ (input, 6 → 6)   Gᵀ (weights, 3 → 6)   Aᵀ (output, 6 → 4)

/// Most tiles a SIMD group holds (one per AVX-512 lane).
enum { MAX_LANES = 16 };

/// Up to MAX_LANES consecutive tiles of one tile row, with the output coordinates of their corners
/// (unused lanes repeat the first tile).
typedef struct {
    long image;
    long offset;  ///< position of the first tile in the block (column of V and M)
    long lanes;
    int top[MAX_LANES], left[MAX_LANES];
} tile_group;

/// Splits tiles [first, first + count) into groups of at most `max_lanes` tiles that do not cross
/// a tile row; returns a malloc'd array (NULL when out of memory) and its length in *group_count.
static tile_group *make_groups(const ck_winograd_shape *s, long first, long count, long max_lanes, long *group_count) {
    long per_image = s->tiles_h * s->tiles_w;
    long capacity = count / max_lanes + count / s->tiles_w + 2;
    tile_group *groups = malloc(sizeof(tile_group) * capacity);
    if (groups == NULL) return NULL;
    long image = first / per_image, within = first % per_image;
    long row = within / s->tiles_w, column = within % s->tiles_w;
    long n = 0;
    for (long done = 0; done < count; n++) {
        tile_group *g = &groups[n];
        g->image = image;
        g->offset = done;
        g->lanes = 0;
        while (g->lanes < max_lanes && done < count) {
            g->top[g->lanes] = (int)(4 * row);
            g->left[g->lanes] = (int)(4 * column);
            g->lanes++;
            done++;
            if (++column == s->tiles_w) {
                column = 0;
                if (++row == s->tiles_h) {
                    row = 0;
                    image++;
                }
                break;
            }
        }
        for (long l = g->lanes; l < MAX_LANES; l++) {
            g->top[l] = g->top[0];
            g->left[l] = g->left[0];
        }
    }
    *group_count = n;
    return groups;
}

/// Writes the parts inside the output plane of the group's tiles, held lane-wise:
/// tile element (i, j) of lane l at values[(4·i + j)·stride + l].
static void write_tiles(const ck_winograd_shape *s, const tile_group *g, const float *values, long stride, float *plane) {
    for (long l = 0; l < g->lanes; l++) {
        long rows = s->out_height - g->top[l], columns = s->out_width - g->left[l];
        if (rows > 4) rows = 4;
        if (columns > 4) columns = 4;
        float *corner = plane + (long)g->top[l] * s->out_width + g->left[l];
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < columns; j++) corner[i * s->out_width + j] = values[(4 * i + j) * stride + l];
    }
}

long ck_winograd_slice_stride(long rows, long ld) {
    long lines = (rows * ld + 15) / 16;
    return 16 * (lines | 1);
}

// MARK: Weights (plan time, in double)

/// Gᵀ applied to one line of 3 weights.
static inline void weight_line(double g0, double g1, double g2, double *o, long step) {
    const double sixth = 1.0 / 6, twelfth = 1.0 / 12, twenty_fourth = 1.0 / 24;
    o[0] = g0 * 0.25;
    o[step] = -(g0 + g1 + g2) * sixth;
    o[2 * step] = -(g0 - g1 + g2) * sixth;
    o[3 * step] = g0 * twenty_fourth + g1 * twelfth + g2 * sixth;
    o[4 * step] = g0 * twenty_fourth - g1 * twelfth + g2 * sixth;
    o[5 * step] = g2;
}

void ck_winograd_f43_weights(const float *g, long out_channels, long channels, float *u) {
    enum { RUN = 16 };  // channels transformed together, so each slice gets whole cache lines
    for (long k = 0; k < out_channels; k++) {
        for (long c0 = 0; c0 < channels; c0 += RUN) {
            long run = channels - c0 < RUN ? channels - c0 : RUN;
            float tiles[36][RUN];
            for (long c = 0; c < run; c++) {
                const float *w = g + (k * channels + c0 + c) * 9;
                double columns[6 * 3], tile[36];
                for (long j = 0; j < 3; j++) weight_line(w[j], w[3 + j], w[6 + j], columns + j, 3);
                for (long i = 0; i < 6; i++) weight_line(columns[3 * i], columns[3 * i + 1], columns[3 * i + 2], tile + 6 * i, 1);
                for (long e = 0; e < 36; e++) tiles[e][c] = (float)tile[e];
            }
            for (long e = 0; e < 36; e++) {
                float *into = u + (e * out_channels + k) * channels + c0;
                for (long c = 0; c < run; c++) into[c] = tiles[e][c];
            }
        }
    }
}

// MARK: Portable

/// Bᵀ applied to 6 values d[0], d[step], … into o[0], o[out_step], ….
static inline void input_line(const float *d, long step, float *o, long out_step) {
    float d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
    o[0] = 4 * d0 - 5 * d2 + d4;
    o[out_step] = (d3 + d4) - 4 * (d1 + d2);
    o[2 * out_step] = (d4 - d3) + 4 * (d1 - d2);
    o[3 * out_step] = (d4 - d2) + 2 * (d3 - d1);
    o[4 * out_step] = (d4 - d2) - 2 * (d3 - d1);
    o[5 * out_step] = 4 * d1 - 5 * d3 + d5;
}

/// Aᵀ applied to 6 values m[0], m[step], … into 4 values o[0], o[out_step], ….
static inline void output_line(const float *m, long step, float *o, long out_step) {
    float sum12 = m[step] + m[2 * step], difference12 = m[step] - m[2 * step];
    float sum34 = m[3 * step] + m[4 * step], difference34 = m[3 * step] - m[4 * step];
    o[0] = m[0] + sum12 + sum34;
    o[out_step] = difference12 + 2 * difference34;
    o[2 * out_step] = sum12 + 4 * sum34;
    o[3 * out_step] = difference12 + 8 * difference34 + m[5 * step];
}

static void input_portable(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *x, long c0, long c1, float *v, long ldv) {
    const long plane = s->height * s->width, element_stride = ck_winograd_slice_stride(s->channels, ldv);
    for (long c = c0; c < c1; c++) {
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            const float *base = x + (g->image * s->channels + c) * plane;
            for (long l = 0; l < g->lanes; l++) {
                long y0 = g->top[l] - s->pad_top, x0 = g->left[l] - s->pad_left;
                float d[36], t[36];
                for (long r = 0; r < 6; r++) {
                    long y = y0 + r;
                    for (long j = 0; j < 6; j++) {
                        long xx = x0 + j;
                        d[6 * r + j] = y >= 0 && y < s->height && xx >= 0 && xx < s->width ? base[y * s->width + xx] : 0;
                    }
                }
                for (long j = 0; j < 6; j++) input_line(d + j, 6, t + j, 6);
                for (long i = 0; i < 6; i++) input_line(t + 6 * i, 1, d + 6 * i, 1);
                for (long e = 0; e < 36; e++) v[e * element_stride + c * ldv + g->offset + l] = d[e];
            }
        }
    }
}

static void output_portable(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *m, long ldm, long k0, long k1,
                            const ck_winograd_epilogue *e, float *y) {
    const long plane = s->out_height * s->out_width, element_stride = ck_winograd_slice_stride(s->out_channels, ldm);
    for (long k = k0; k < k1; k++) {
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            float values[16 * MAX_LANES];
            float bias = e->bias ? e->bias[k] : 0;
            for (long l = 0; l < g->lanes; l++) {
                float tile[36], half[24], out[16];
                for (long q = 0; q < 36; q++) tile[q] = m[q * element_stride + k * ldm + g->offset + l];
                for (long j = 0; j < 6; j++) output_line(tile + j, 6, half + j, 6);
                for (long i = 0; i < 4; i++) output_line(half + 6 * i, 1, out + 4 * i, 1);
                for (long q = 0; q < 16; q++) values[q * MAX_LANES + l] = out[q] + bias;
            }
            if (e->has_activation) ck_activation_f32(e->activation, e->a, e->b, values, values, 16 * MAX_LANES);
            write_tiles(s, g, values, MAX_LANES, y + (g->image * s->out_channels + k) * plane);
        }
    }
}

#if defined(__x86_64__)

// MARK: AVX-512 (16 tiles per vector)

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

AVX512 static inline void input_line_avx512(const __m512 *d, long step, __m512 *o, long out_step) {
    const __m512 two = _mm512_set1_ps(2), four = _mm512_set1_ps(4), five = _mm512_set1_ps(5);
    __m512 d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
    __m512 d4_minus_d2 = _mm512_sub_ps(d4, d2), d3_minus_d1 = _mm512_sub_ps(d3, d1);
    o[0] = _mm512_fmadd_ps(four, d0, _mm512_fnmadd_ps(five, d2, d4));
    o[out_step] = _mm512_fnmadd_ps(four, _mm512_add_ps(d1, d2), _mm512_add_ps(d3, d4));
    o[2 * out_step] = _mm512_fmadd_ps(four, _mm512_sub_ps(d1, d2), _mm512_sub_ps(d4, d3));
    o[3 * out_step] = _mm512_fmadd_ps(two, d3_minus_d1, d4_minus_d2);
    o[4 * out_step] = _mm512_fnmadd_ps(two, d3_minus_d1, d4_minus_d2);
    o[5 * out_step] = _mm512_fmadd_ps(four, d1, _mm512_fnmadd_ps(five, d3, d5));
}

AVX512 static inline void output_line_avx512(const __m512 *m, long step, __m512 *o, long out_step) {
    __m512 sum12 = _mm512_add_ps(m[step], m[2 * step]), difference12 = _mm512_sub_ps(m[step], m[2 * step]);
    __m512 sum34 = _mm512_add_ps(m[3 * step], m[4 * step]), difference34 = _mm512_sub_ps(m[3 * step], m[4 * step]);
    o[0] = _mm512_add_ps(_mm512_add_ps(m[0], sum12), sum34);
    o[out_step] = _mm512_fmadd_ps(_mm512_set1_ps(2), difference34, difference12);
    o[2 * out_step] = _mm512_fmadd_ps(_mm512_set1_ps(4), sum34, sum12);
    o[3 * out_step] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8), difference34, difference12), m[5 * step]);
}

/// Lanes whose value lies in [0, limit).
AVX512 static inline __mmask16 inside_avx512(__m512i value, long limit) {
    return _mm512_cmpge_epi32_mask(value, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(value, _mm512_set1_epi32((int)limit));
}

/// Lane l holds l·4 + `phase` modulo 32: picks phase `phase` of 8 tiles out of two vectors.
AVX512 static inline __m512i phase_index(int phase) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return _mm512_and_si512(_mm512_add_epi32(_mm512_slli_epi32(lane, 2), _mm512_set1_epi32(phase)), _mm512_set1_epi32(31));
}

/// Lanes (of a vector starting at `first`) whose column lies in [0, limit).
AVX512 static inline __mmask16 columns_inside(long first, long limit) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    return inside_avx512(_mm512_add_epi32(lane, _mm512_set1_epi32((int)first)), limit);
}

/// The 6×6 input tiles of 16 side-by-side tiles, from one input row at a time: d[6·r + j] lane l
/// is row r, column 4·l + j of the span starting at `corner` (zero outside the loaded masks).
/// Each row is read with five plain loads and split into its six phases by permutes.
AVX512 static inline void load_tiles_avx512(const float *corner, long width, const __mmask16 row_inside[6],
                                            const __mmask16 columns[5], const __m512i phases[4], __m512 *d) {
    for (int r = 0; r < 6; r++) {
        __m512 *phase = d + 6 * r;
        if (!row_inside[r]) {
            for (int j = 0; j < 6; j++) phase[j] = _mm512_setzero_ps();
            continue;
        }
        const float *row = corner + r * width;
        __m512 a0 = _mm512_maskz_loadu_ps(columns[0], row), a1 = _mm512_maskz_loadu_ps(columns[1], row + 16);
        __m512 a2 = _mm512_maskz_loadu_ps(columns[2], row + 32), a3 = _mm512_maskz_loadu_ps(columns[3], row + 48);
        __m512i tail = _mm512_castps_si512(_mm512_maskz_loadu_ps(columns[4], row + 64));
        for (int j = 0; j < 4; j++) {
            __m512 low = _mm512_permutex2var_ps(a0, phases[j], a1), high = _mm512_permutex2var_ps(a2, phases[j], a3);
            phase[j] = _mm512_mask_blend_ps(0xFF00, low, high);
        }
        // Phases 4 and 5 are phases 0 and 1 of the next tile: shift one lane, take the tail.
        phase[4] = _mm512_castsi512_ps(_mm512_alignr_epi32(tail, _mm512_castps_si512(phase[0]), 1));
        phase[5] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_alignr_epi32(tail, tail, 1), _mm512_castps_si512(phase[1]), 1));
    }
}

AVX512 static void input_avx512(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *x, long c0, long c1, float *v, long ldv) {
    const long plane = s->height * s->width, element_stride = ck_winograd_slice_stride(s->channels, ldv);
    __m512i phases[4];
    for (int j = 0; j < 4; j++) phases[j] = phase_index(j);
    for (long c = c0; c < c1; c++) {
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            const long top = g->top[0] - s->pad_top, left = g->left[0] - s->pad_left;
            const __mmask16 active = (__mmask16)((1u << g->lanes) - 1);
            __mmask16 row_inside[6], columns[5];
            for (int r = 0; r < 6; r++) row_inside[r] = top + r >= 0 && top + r < s->height;
            for (int q = 0; q < 5; q++) columns[q] = columns_inside(left + 16 * q, s->width);
            const float *corner = x + (g->image * s->channels + c) * plane + top * s->width + left;
            __m512 d[36], t[36], o[6];
            load_tiles_avx512(corner, s->width, row_inside, columns, phases, d);
            for (int j = 0; j < 6; j++) input_line_avx512(d + j, 6, t + j, 6);
            float *into = v + c * ldv + g->offset;
            for (int i = 0; i < 6; i++) {
                input_line_avx512(t + 6 * i, 1, o, 1);
                for (int j = 0; j < 6; j++) _mm512_mask_storeu_ps(into + (6 * i + j) * element_stride, active, o[j]);
            }
        }
    }
}

/// Writes one output row of 16 side-by-side tiles: column 4·l + j gets lane l of o[j]. The
/// vectors are interleaved by permutes and stored with masks `columns`.
AVX512 static inline void store_row_avx512(float *row, const __mmask16 columns[4], const __m512 *o) {
    // Pairs (o0, o1) and (o2, o3) of tiles 0…7 and 8…15, then quads of tiles 0…3, 4…7, ….
    const __m512i pairs = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i quads = _mm512_setr_epi32(0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
    const __m512i eight = _mm512_set1_epi32(8);
    __m512 low01 = _mm512_permutex2var_ps(o[0], pairs, o[1]), high01 = _mm512_permutex2var_ps(o[0], _mm512_add_epi32(pairs, eight), o[1]);
    __m512 low23 = _mm512_permutex2var_ps(o[2], pairs, o[3]), high23 = _mm512_permutex2var_ps(o[2], _mm512_add_epi32(pairs, eight), o[3]);
    _mm512_mask_storeu_ps(row, columns[0], _mm512_permutex2var_ps(low01, quads, low23));
    _mm512_mask_storeu_ps(row + 16, columns[1], _mm512_permutex2var_ps(low01, _mm512_add_epi32(quads, eight), low23));
    _mm512_mask_storeu_ps(row + 32, columns[2], _mm512_permutex2var_ps(high01, quads, high23));
    _mm512_mask_storeu_ps(row + 48, columns[3], _mm512_permutex2var_ps(high01, _mm512_add_epi32(quads, eight), high23));
}

AVX512 static void output_avx512(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *m, long ldm, long k0, long k1,
                                 const ck_winograd_epilogue *e, float *y) {
    const long plane = s->out_height * s->out_width, element_stride = ck_winograd_slice_stride(s->out_channels, ldm);
    for (long k = k0; k < k1; k++) {
        const __m512 bias = _mm512_set1_ps(e->bias ? e->bias[k] : 0);
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            const float *from = m + k * ldm + g->offset;
            const __mmask16 active = (__mmask16)((1u << g->lanes) - 1);
            __m512 tile[6], half[24], out[16];
            for (int j = 0; j < 6; j++) {
                for (int r = 0; r < 6; r++) tile[r] = _mm512_maskz_loadu_ps(active, from + (6 * r + j) * element_stride);
                output_line_avx512(tile, 1, half + j, 6);
            }
            for (int i = 0; i < 4; i++) output_line_avx512(half + 6 * i, 1, out + 4 * i, 1);
            for (int q = 0; q < 16; q++) out[q] = _mm512_add_ps(out[q], bias);
            if (e->has_activation) {
                float values[16 * 16];
                for (int q = 0; q < 16; q++) _mm512_storeu_ps(values + 16 * q, out[q]);
                ck_activation_f32(e->activation, e->a, e->b, values, values, 16 * 16);
                for (int q = 0; q < 16; q++) out[q] = _mm512_loadu_ps(values + 16 * q);
            }
            // Columns inside the output and inside the group's own tiles.
            const long left = g->left[0], end = left + 4 * g->lanes < s->out_width ? left + 4 * g->lanes : s->out_width;
            __mmask16 columns[4];
            for (int q = 0; q < 4; q++) columns[q] = columns_inside(left + 16 * q, end);
            float *corner = y + (g->image * s->out_channels + k) * plane + g->top[0] * s->out_width + left;
            for (int i = 0; i < 4 && g->top[0] + i < s->out_height; i++) store_row_avx512(corner + i * s->out_width, columns, out + 4 * i);
        }
    }
}

// MARK: AVX2 (8 tiles per vector)

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline void input_line_avx2(const __m256 *d, long step, __m256 *o, long out_step) {
    const __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    __m256 d0 = d[0], d1 = d[step], d2 = d[2 * step], d3 = d[3 * step], d4 = d[4 * step], d5 = d[5 * step];
    __m256 d4_minus_d2 = _mm256_sub_ps(d4, d2), d3_minus_d1 = _mm256_sub_ps(d3, d1);
    o[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
    o[out_step] = _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
    o[2 * out_step] = _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
    o[3 * out_step] = _mm256_fmadd_ps(two, d3_minus_d1, d4_minus_d2);
    o[4 * out_step] = _mm256_fnmadd_ps(two, d3_minus_d1, d4_minus_d2);
    o[5 * out_step] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

AVX2 static inline void output_line_avx2(const __m256 *m, long step, __m256 *o, long out_step) {
    __m256 sum12 = _mm256_add_ps(m[step], m[2 * step]), difference12 = _mm256_sub_ps(m[step], m[2 * step]);
    __m256 sum34 = _mm256_add_ps(m[3 * step], m[4 * step]), difference34 = _mm256_sub_ps(m[3 * step], m[4 * step]);
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], sum12), sum34);
    o[out_step] = _mm256_fmadd_ps(_mm256_set1_ps(2), difference34, difference12);
    o[2 * out_step] = _mm256_fmadd_ps(_mm256_set1_ps(4), sum34, sum12);
    o[3 * out_step] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8), difference34, difference12), m[5 * step]);
}

/// All-ones lanes where the value lies in [0, limit).
AVX2 static inline __m256i inside_avx2(__m256i value, long limit) {
    __m256i not_negative = _mm256_cmpgt_epi32(value, _mm256_set1_epi32(-1));
    return _mm256_and_si256(not_negative, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)limit), value));
}

/// All-ones in the first `lanes` lanes.
AVX2 static inline __m256i active_avx2(long lanes) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)lanes), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

AVX2 static void input_avx2(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *x, long c0, long c1, float *v, long ldv) {
    const long plane = s->height * s->width, element_stride = ck_winograd_slice_stride(s->channels, ldv);
    for (long c = c0; c < c1; c++) {
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            const float *base = x + (g->image * s->channels + c) * plane;
            const __m256i active = active_avx2(g->lanes);
            __m256i top = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)g->top), _mm256_set1_epi32((int)s->pad_top));
            __m256i left = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i *)g->left), _mm256_set1_epi32((int)s->pad_left));
            __m256i corner = _mm256_add_epi32(_mm256_mullo_epi32(top, _mm256_set1_epi32((int)s->width)), left);
            __m256i row_inside[6], column_inside[6];
            for (int r = 0; r < 6; r++) {
                row_inside[r] = _mm256_and_si256(active, inside_avx2(_mm256_add_epi32(top, _mm256_set1_epi32(r)), s->height));
                column_inside[r] = inside_avx2(_mm256_add_epi32(left, _mm256_set1_epi32(r)), s->width);
            }
            __m256 d[6], t[36], o[6];
            for (int j = 0; j < 6; j++) {
                for (int r = 0; r < 6; r++) {
                    __m256i index = _mm256_add_epi32(corner, _mm256_set1_epi32((int)(r * s->width + j)));
                    __m256 mask = _mm256_castsi256_ps(_mm256_and_si256(row_inside[r], column_inside[j]));
                    d[r] = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), base, index, mask, 4);
                }
                input_line_avx2(d, 1, t + j, 6);
            }
            float *into = v + c * ldv + g->offset;
            for (int i = 0; i < 6; i++) {
                input_line_avx2(t + 6 * i, 1, o, 1);
                for (int j = 0; j < 6; j++) _mm256_maskstore_ps(into + (6 * i + j) * element_stride, active, o[j]);
            }
        }
    }
}

AVX2 static void output_avx2(const ck_winograd_shape *s, const tile_group *groups, long group_count, const float *m, long ldm, long k0, long k1,
                             const ck_winograd_epilogue *e, float *y) {
    const long plane = s->out_height * s->out_width, element_stride = ck_winograd_slice_stride(s->out_channels, ldm);
    for (long k = k0; k < k1; k++) {
        const __m256 bias = _mm256_set1_ps(e->bias ? e->bias[k] : 0);
        for (const tile_group *g = groups; g < groups + group_count; g++) {
            const float *from = m + k * ldm + g->offset;
            const __m256i active = active_avx2(g->lanes);
            __m256 tile[6], half[24], out[4];
            for (int j = 0; j < 6; j++) {
                for (int r = 0; r < 6; r++) tile[r] = _mm256_maskload_ps(from + (6 * r + j) * element_stride, active);
                output_line_avx2(tile, 1, half + j, 6);
            }
            float values[16 * 8];
            for (int i = 0; i < 4; i++) {
                output_line_avx2(half + 6 * i, 1, out, 1);
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(values + 8 * (4 * i + j), _mm256_add_ps(out[j], bias));
            }
            if (e->has_activation) ck_activation_f32(e->activation, e->a, e->b, values, values, 16 * 8);
            write_tiles(s, g, values, 8, y + (g->image * s->out_channels + k) * plane);
        }
    }
}

#endif

// MARK: Dispatch

/// The SIMD level to run at: `requested`, at most what the CPU has (portable off x86-64).
static int kernel_level(int requested) {
#if defined(__x86_64__)
    int supported = ck_cpu_level();
    return requested < supported ? requested : supported;
#else
    (void)requested;
    return CK_LEVEL_PORTABLE;
#endif
}

/// The tile groups for a level: 8 tiles per AVX2 vector, 16 otherwise. Running out of memory for
/// this small array is fatal, as it is for Swift's own allocations.
static tile_group *groups_for(int level, const ck_winograd_shape *s, long first_tile, long count, long *group_count) {
    tile_group *groups = make_groups(s, first_tile, count, level == CK_LEVEL_AVX2 ? 8 : 16, group_count);
    if (groups == NULL) abort();
    return groups;
}

void ck_winograd_f43_input(const ck_winograd_shape *s, const float *x, long first_tile, long count,
                           long c0, long c1, float *v, long ldv, int requested_level) {
    if (count <= 0 || c0 >= c1) return;
    int level = kernel_level(requested_level);
    long group_count;
    tile_group *groups = groups_for(level, s, first_tile, count, &group_count);
    switch (level) {
#if defined(__x86_64__)
    case CK_LEVEL_AVX512: input_avx512(s, groups, group_count, x, c0, c1, v, ldv); break;
    case CK_LEVEL_AVX2: input_avx2(s, groups, group_count, x, c0, c1, v, ldv); break;
#endif
    default: input_portable(s, groups, group_count, x, c0, c1, v, ldv);
    }
    free(groups);
}

void ck_winograd_f43_output(const ck_winograd_shape *s, const float *m, long ldm, long first_tile,
                            long count, long k0, long k1, const ck_winograd_epilogue *e, float *y, int requested_level) {
    if (count <= 0 || k0 >= k1) return;
    int level = kernel_level(requested_level);
    long group_count;
    tile_group *groups = groups_for(level, s, first_tile, count, &group_count);
    switch (level) {
#if defined(__x86_64__)
    case CK_LEVEL_AVX512: output_avx512(s, groups, group_count, m, ldm, k0, k1, e, y); break;
    case CK_LEVEL_AVX2: output_avx2(s, groups, group_count, m, ldm, k0, k1, e, y); break;
#endif
    default: output_portable(s, groups, group_count, m, ldm, k0, k1, e, y);
    }
    free(groups);
}
