#ifndef CK_GEMM_H
#define CK_GEMM_H

#include <stddef.h>

#include "ck_activations.h"

/// A matrix product with its epilogue fused: C = f(A · B + bias), A m × k and B k × n row-major
/// (any row strides). Eight rows by CK_GEMM_PANEL columns of C are accumulated in registers over
/// the whole k, reading A's rows by broadcasts and B's panel from a contiguous copy, then finished
/// (bias, activation) and stored once: no pass over C after the product. Every output is computed
/// the same way wherever it lies (in k order, or as a dot product for the last few columns), so
/// results do not depend on how the panels are split across threads. AVX-512 only: check
/// `ck_gemm_available()`.

/// Columns of C per tile (three 16-float vectors). The last panel of a product computes only the
/// vectors its columns need (49 columns: one panel of 48, then one of 16).
#define CK_GEMM_PANEL 48

/// Most columns past a product's last whole vector of 16 that are computed as dot products of A's
/// rows with B's columns (when B is copied), rather than by a masked vector whose other lanes are
/// wasted: a 7×7 map's 49th column costs 1/16 of a vector. Such columns past the last whole
/// panel join it (49 columns are one panel: 48 + 1).
#define CK_GEMM_DOT_COLUMNS 8

/// Floats of scratch space per row of B (per unit of k) that `ck_gemm_f32` needs.
#define CK_GEMM_SCRATCH_COLUMNS 56

/// 1 when this CPU runs the kernel (AVX-512).
int ck_gemm_available(void);

/// What is applied to output (i, j) after the product, in this order: + bias[j] (a layer's bias
/// per column; NULL for none), + row_bias[i] (a convolution's bias per output channel; NULL for
/// none), + addend[i·ld_addend + j] (a residual; NULL for none), then the activation when
/// `has_activation` is nonzero. `row_bias` and `addend` are indexed from the first row passed.
typedef struct {
    const float *bias;
    const float *row_bias;
    const float *addend;
    size_t ld_addend;
    int has_activation;
    ck_activation activation;
    float a, b;
} ck_gemm_epilogue;

/// Panels an n-column product is split into: n / CK_GEMM_PANEL rounded up, less one when the
/// columns past the last whole panel are few enough to join it (see CK_GEMM_DOT_COLUMNS).
size_t ck_gemm_panel_count(size_t n);

/// Computes rows [0, m) and the columns of panels [panel_begin, panel_end) of C: panel p starts at
/// column p·CK_GEMM_PANEL and is CK_GEMM_PANEL wide, except the last (of `ck_gemm_panel_count(n)`),
/// which ends at n. With `scratch` (k·CK_GEMM_SCRATCH_COLUMNS floats) each panel of B is first
/// copied there, contiguous, so it stays in cache while all row tiles read it; NULL reads B in place.
void ck_gemm_f32(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb,
                 const ck_gemm_epilogue *epilogue, float *c, size_t ldc, size_t panel_begin, size_t panel_end,
                 float *scratch);

#endif
