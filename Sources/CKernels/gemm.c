#include "ck_gemm.h"
#include "ck_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)

int ck_gemm_available(void) { return ck_cpu_level() >= CK_LEVEL_AVX512; }

/// Rows of C a tile covers.
#define TILE_ROWS 8

static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// One tile: `rows` (≤ 8) rows of A times `columns` (≤ 16·vectors) columns of B starting at
/// `panel`, with `vectors` (1 to 3, a constant after inlining) accumulators per row: the last,
/// narrower panel of a product computes only the vectors it covers (a 7×7 map's 49 columns are
/// 48 + 1, not 96). Missing rows read row 0 again and are not stored, so the loop is the same
/// for every tile.
__attribute__((target("avx512f,avx512dq,avx2,fma"), always_inline))
static inline void tile_of(const int vectors, size_t rows, size_t columns, size_t k, const float *a, size_t lda,
                           const float *panel, size_t ldb, const ck_gemm_epilogue *e, const float *bias,
                           const float *row_bias, const float *addend, float *c, size_t ldc, const float *prefetch,
                           size_t prefetch_stride) {
    __mmask16 mask[3];
#pragma clang loop unroll(full)
    for (int v = 0; v < 3; v++) mask[v] = lanes(columns > 16 * (size_t)v ? columns - 16 * (size_t)v : 0);
    const float *row[TILE_ROWS];
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) row[r] = a + ((size_t)r < rows ? (size_t)r : 0) * lda;
    __m512 acc[TILE_ROWS * 3];
#pragma clang loop unroll(full)
    for (int i = 0; i < TILE_ROWS * 3; i++) acc[i] = _mm512_setzero_ps();
    for (size_t kk = 0; kk < k; kk++) {
        if (prefetch) _mm_prefetch((const char *)(prefetch + kk * prefetch_stride), _MM_HINT_T1);
        const float *p = panel + kk * ldb;
        __m512 b[3];
#pragma clang loop unroll(full)
        for (int v = 0; v < vectors; v++) b[v] = _mm512_maskz_loadu_ps(mask[v], p + 16 * v);
#pragma clang loop unroll(full)
        for (int r = 0; r < TILE_ROWS; r++) {
            __m512 x = _mm512_set1_ps(row[r][kk]);
#pragma clang loop unroll(full)
            for (int v = 0; v < vectors; v++) acc[3 * r + v] = _mm512_fmadd_ps(x, b[v], acc[3 * r + v]);
        }
    }
    __m512 column_bias[3];
#pragma clang loop unroll(full)
    for (int v = 0; v < vectors; v++) column_bias[v] = bias ? _mm512_maskz_loadu_ps(mask[v], bias + 16 * v) : _mm512_setzero_ps();
    // Relu and Clip in registers (x second, so NaN passes through); other functions per stored row.
    int clamp = e->has_activation && (e->activation == CK_ACT_RELU || e->activation == CK_ACT_CLIP);
    __m512 low = _mm512_set1_ps(e->activation == CK_ACT_RELU ? 0 : e->a);
    __m512 high = _mm512_set1_ps(e->activation == CK_ACT_RELU ? __builtin_inff() : e->b);
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        if ((size_t)r < rows) {
            const float *z = addend ? addend + (size_t)r * e->ld_addend : NULL;
            float *out = c + (size_t)r * ldc;
#pragma clang loop unroll(full)
            for (int v = 0; v < vectors; v++) {
                __m512 value = _mm512_add_ps(acc[3 * r + v], column_bias[v]);
                if (row_bias) value = _mm512_add_ps(value, _mm512_set1_ps(row_bias[r]));
                if (z) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask[v], z + 16 * v));
                if (clamp) value = _mm512_min_ps(high, _mm512_max_ps(low, value));
                _mm512_mask_storeu_ps(out + 16 * v, mask[v], value);
            }
            if (e->has_activation && !clamp) ck_activation_f32(e->activation, e->a, e->b, out, out, columns);
        }
    }
}

/// `tile_of` for 1, 2 and 3 vectors of columns; `tile` picks the narrowest that covers `columns`.
#define TILE_ARGUMENTS size_t rows, size_t columns, size_t k, const float *a, size_t lda, const float *panel, size_t ldb, \
    const ck_gemm_epilogue *e, const float *bias, const float *row_bias, const float *addend, float *c, size_t ldc, \
    const float *prefetch, size_t prefetch_stride
#define TILE_PASS rows, columns, k, a, lda, panel, ldb, e, bias, row_bias, addend, c, ldc, prefetch, prefetch_stride
__attribute__((target("avx512f,avx512dq,avx2,fma"))) static void tile16(TILE_ARGUMENTS) { tile_of(1, TILE_PASS); }
__attribute__((target("avx512f,avx512dq,avx2,fma"))) static void tile32(TILE_ARGUMENTS) { tile_of(2, TILE_PASS); }
__attribute__((target("avx512f,avx512dq,avx2,fma"))) static void tile48(TILE_ARGUMENTS) { tile_of(3, TILE_PASS); }
static void tile(TILE_ARGUMENTS) {
    if (columns <= 16) tile16(TILE_PASS);
    else if (columns <= 32) tile32(TILE_PASS);
    else tile48(TILE_PASS);
}

/// Copies `columns` columns of B's k rows from `b` (row stride ldb) into k contiguous rows of
/// CK_GEMM_PANEL floats. Rows of a large B lie at a power-of-two-like stride that maps them to a
/// few cache sets; packed, the panel stays in L1/L2 while every row tile reads it.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void pack_panel(const float *b, size_t ldb, size_t k, size_t columns, float *panel) {
    const __mmask16 m0 = lanes(columns), m1 = lanes(columns > 16 ? columns - 16 : 0),
                    m2 = lanes(columns > 32 ? columns - 32 : 0);
    for (size_t kk = 0; kk < k; kk++) {
        const float *row = b + kk * ldb;
        float *out = panel + kk * CK_GEMM_PANEL;
        _mm512_storeu_ps(out, _mm512_maskz_loadu_ps(m0, row));
        _mm512_storeu_ps(out + 16, _mm512_maskz_loadu_ps(m1, row + 16));
        _mm512_storeu_ps(out + 32, _mm512_maskz_loadu_ps(m2, row + 32));
    }
}

void ck_gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 const ck_gemm_epilogue *epilogue, float *c, size_t ldc, size_t panel_begin, size_t panel_end,
                 float *scratch) {
    for (size_t p = panel_begin; p < panel_end; p++) {
        size_t first = p * CK_GEMM_PANEL;
        if (first >= n) break;
        size_t columns = n - first < CK_GEMM_PANEL ? n - first : CK_GEMM_PANEL;
        const float *bias = epilogue->bias ? epilogue->bias + first : NULL;
        const float *panel = b + first;
        size_t stride = ldb;
        if (scratch && m > TILE_ROWS) {
            pack_panel(b + first, ldb, k, columns, scratch);
            panel = scratch;
            stride = CK_GEMM_PANEL;
        }
        // While the first row tiles compute, the next panel's rows are fetched (one cache line of
        // each row per tile), so its packing does not wait for memory.
        const float *next = scratch && p + 1 < panel_end && first + CK_GEMM_PANEL < n ? b + first + CK_GEMM_PANEL : NULL;
        for (size_t i = 0, t = 0; i < m; i += TILE_ROWS, t++) {
            size_t rows = m - i < TILE_ROWS ? m - i : TILE_ROWS;
            const float *prefetch = next && t < 3 ? next + 16 * t : NULL;
            const float *row_bias = epilogue->row_bias ? epilogue->row_bias + i : NULL;
            const float *addend = epilogue->addend ? epilogue->addend + i * epilogue->ld_addend + first : NULL;
            tile(rows, columns, k, a + i * lda, lda, panel, stride, epilogue, bias, row_bias, addend, c + i * ldc + first,
                 ldc, prefetch, ldb);
        }
    }
}

#else

int ck_gemm_available(void) { return 0; }

void ck_gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 const ck_gemm_epilogue *epilogue, float *c, size_t ldc, size_t panel_begin, size_t panel_end,
                 float *scratch) {
    (void)scratch; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)epilogue; (void)c; (void)ldc;
    (void)panel_begin; (void)panel_end;
}

#endif
