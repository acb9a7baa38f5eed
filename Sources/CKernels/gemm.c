#include "ck_gemm.h"
#include "ck_cpu.h"
#include "activation_avx512.h"

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
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        const float *z = addend && (size_t)r < rows ? addend + (size_t)r * e->ld_addend : NULL;
#pragma clang loop unroll(full)
        for (int v = 0; v < vectors; v++) {
            acc[3 * r + v] = _mm512_add_ps(acc[3 * r + v], column_bias[v]);
            if (row_bias) acc[3 * r + v] = _mm512_add_ps(acc[3 * r + v], _mm512_set1_ps(row_bias[(size_t)r < rows ? r : 0]));
            if (z) acc[3 * r + v] = _mm512_add_ps(acc[3 * r + v], _mm512_maskz_loadu_ps(mask[v], z + 16 * v));
        }
    }
    // The activation in registers, before the tile is stored (a call per stored row cost as
    // much as the product itself for SiLU on short reductions); libmvec's per stored row.
    const int stored_activation = e->has_activation &&
        !activation_avx512_registers(e->activation, _mm512_set1_ps(e->a), _mm512_set1_ps(e->b), acc, TILE_ROWS * 3, 3, vectors);
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        if ((size_t)r < rows) {
            float *out = c + (size_t)r * ldc;
#pragma clang loop unroll(full)
            for (int v = 0; v < vectors; v++) _mm512_mask_storeu_ps(out + 16 * v, mask[v], acc[3 * r + v]);
            if (stored_activation) ck_activation_f32(e->activation, e->a, e->b, out, out, columns);
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

/// `columns` (1 to 3, a constant after inlining) columns of C for `rows` (≤ 8) rows, each a dot
/// product of an A row with a B column gathered contiguous (column j at `gathered + j·k`): 16
/// partial sums over k, then added across lanes. A masked vector would spend all 16 lanes'
/// products on these few columns; here each product is computed once.
__attribute__((target("avx512f,avx512dq,avx2,fma"), always_inline))
static inline void dots_of(const int columns, size_t rows, size_t k, const float *a, size_t lda, const float *gathered,
                           const ck_gemm_epilogue *e, const float *bias, const float *row_bias, const float *addend,
                           float *c, size_t ldc) {
    const float *row[TILE_ROWS];
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) row[r] = a + ((size_t)r < rows ? (size_t)r : 0) * lda;
    __m512 acc[TILE_ROWS * 3];
#pragma clang loop unroll(full)
    for (int i = 0; i < TILE_ROWS * 3; i++) acc[i] = _mm512_setzero_ps();
    for (size_t kk = 0; kk < k; kk += 16) {
        __mmask16 mask = lanes(k - kk);
        __m512 b[3];
#pragma clang loop unroll(full)
        for (int j = 0; j < columns; j++) b[j] = _mm512_maskz_loadu_ps(mask, gathered + (size_t)j * k + kk);
#pragma clang loop unroll(full)
        for (int r = 0; r < TILE_ROWS; r++) {
            __m512 x = _mm512_maskz_loadu_ps(mask, row[r] + kk);
#pragma clang loop unroll(full)
            for (int j = 0; j < columns; j++) acc[3 * r + j] = _mm512_fmadd_ps(x, b[j], acc[3 * r + j]);
        }
    }
    // The tile's values are gathered so the activation is one call per tile, not per row.
    float values[TILE_ROWS * 3];
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
#pragma clang loop unroll(full)
        for (int j = 0; j < columns; j++) {
            float value = _mm512_reduce_add_ps(acc[3 * r + j]);
            if (bias) value += bias[j];
            if (row_bias && (size_t)r < rows) value += row_bias[r];
            if (addend && (size_t)r < rows) value += addend[(size_t)r * e->ld_addend + (size_t)j];
            values[r * columns + j] = value;
        }
    }
    if (e->has_activation) ck_activation_f32(e->activation, e->a, e->b, values, values, (size_t)(TILE_ROWS * columns));
#pragma clang loop unroll(full)
    for (int r = 0; r < TILE_ROWS; r++) {
        if ((size_t)r < rows) {
#pragma clang loop unroll(full)
            for (int j = 0; j < columns; j++) c[(size_t)r * ldc + (size_t)j] = values[r * columns + j];
        }
    }
}

__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void dots1(size_t rows, size_t k, const float *a, size_t lda, const float *g, const ck_gemm_epilogue *e,
                  const float *bias, const float *row_bias, const float *addend, float *c, size_t ldc) {
    dots_of(1, rows, k, a, lda, g, e, bias, row_bias, addend, c, ldc);
}
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void dots2(size_t rows, size_t k, const float *a, size_t lda, const float *g, const ck_gemm_epilogue *e,
                  const float *bias, const float *row_bias, const float *addend, float *c, size_t ldc) {
    dots_of(2, rows, k, a, lda, g, e, bias, row_bias, addend, c, ldc);
}
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void dots3(size_t rows, size_t k, const float *a, size_t lda, const float *g, const ck_gemm_epilogue *e,
                  const float *bias, const float *row_bias, const float *addend, float *c, size_t ldc) {
    dots_of(3, rows, k, a, lda, g, e, bias, row_bias, addend, c, ldc);
}

/// The last `columns` (≤ CK_GEMM_DOT_COLUMNS) columns of a row tile, three at a time.
static void dots(size_t rows, size_t columns, size_t k, const float *a, size_t lda, const float *gathered,
                 const ck_gemm_epilogue *e, const float *bias, const float *row_bias, const float *addend, float *c,
                 size_t ldc) {
    for (size_t j = 0; j < columns; j += 3) {
        size_t count = columns - j < 3 ? columns - j : 3;
        const float *g = gathered + j * k, *column_bias = bias ? bias + j : NULL, *z = addend ? addend + j : NULL;
        if (count == 1) dots1(rows, k, a, lda, g, e, column_bias, row_bias, z, c + j, ldc);
        else if (count == 2) dots2(rows, k, a, lda, g, e, column_bias, row_bias, z, c + j, ldc);
        else dots3(rows, k, a, lda, g, e, column_bias, row_bias, z, c + j, ldc);
    }
}

size_t ck_gemm_panel_count(size_t n) {
    size_t panels = (n + CK_GEMM_PANEL - 1) / CK_GEMM_PANEL, rest = n % CK_GEMM_PANEL;
    return panels > 1 && rest != 0 && rest <= CK_GEMM_DOT_COLUMNS ? panels - 1 : panels;
}

void ck_gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 const ck_gemm_epilogue *epilogue, float *c, size_t ldc, size_t panel_begin, size_t panel_end,
                 float *scratch) {
    const size_t panels = ck_gemm_panel_count(n);
    const int packs = scratch && m > TILE_ROWS;
    for (size_t p = panel_begin; p < panel_end && p < panels; p++) {
        size_t first = p * CK_GEMM_PANEL;
        size_t columns = p + 1 == panels ? n - first : CK_GEMM_PANEL;
        // A few columns past the last whole vector are dot products, whenever there is scratch
        // space to gather them in: how the rows are split must not change how they are computed.
        size_t dot_columns = scratch && columns % 16 <= CK_GEMM_DOT_COLUMNS ? columns % 16 : 0;
        size_t vector_columns = columns - dot_columns;
        const float *bias = epilogue->bias ? epilogue->bias + first : NULL;
        const float *panel = b + first;
        size_t stride = ldb;
        float *gathered = scratch ? scratch + k * CK_GEMM_PANEL : NULL;
        if (packs) {
            if (vector_columns) pack_panel(b + first, ldb, k, vector_columns, scratch);
            panel = scratch;
            stride = CK_GEMM_PANEL;
        }
        for (size_t j = 0; j < dot_columns; j++)
            for (size_t kk = 0; kk < k; kk++) gathered[j * k + kk] = b[kk * ldb + first + vector_columns + j];
        // While the first row tiles compute, the next panel's rows are fetched (one cache line of
        // each row per tile), so its packing does not wait for memory.
        const float *next = packs && p + 1 < panel_end && p + 1 < panels ? b + first + CK_GEMM_PANEL : NULL;
        for (size_t i = 0, t = 0; i < m; i += TILE_ROWS, t++) {
            size_t rows = m - i < TILE_ROWS ? m - i : TILE_ROWS;
            const float *prefetch = next && t < 3 ? next + 16 * t : NULL;
            const float *row_bias = epilogue->row_bias ? epilogue->row_bias + i : NULL;
            const float *addend = epilogue->addend ? epilogue->addend + i * epilogue->ld_addend + first : NULL;
            // Unpacked, a last panel with a few extra columns is two tiles (48, then the rest).
            for (size_t at = 0; at < vector_columns; at += CK_GEMM_PANEL) {
                size_t width = vector_columns - at < CK_GEMM_PANEL ? vector_columns - at : CK_GEMM_PANEL;
                tile(rows, width, k, a + i * lda, lda, panel + at, stride, epilogue, bias ? bias + at : NULL, row_bias,
                     addend ? addend + at : NULL, c + i * ldc + first + at, ldc, prefetch, ldb);
            }
            if (dot_columns)
                dots(rows, dot_columns, k, a + i * lda, lda, gathered, epilogue, bias ? bias + vector_columns : NULL,
                     row_bias, addend ? addend + vector_columns : NULL, c + i * ldc + first + vector_columns, ldc);
        }
    }
}

#else

int ck_gemm_available(void) { return 0; }

size_t ck_gemm_panel_count(size_t n) { return (n + CK_GEMM_PANEL - 1) / CK_GEMM_PANEL; }

void ck_gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 const ck_gemm_epilogue *epilogue, float *c, size_t ldc, size_t panel_begin, size_t panel_end,
                 float *scratch) {
    (void)scratch; (void)m; (void)n; (void)k; (void)a; (void)lda; (void)b; (void)ldb; (void)epilogue; (void)c; (void)ldc;
    (void)panel_begin; (void)panel_end;
}

#endif
