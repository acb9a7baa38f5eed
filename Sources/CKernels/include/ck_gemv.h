#ifndef CK_GEMV_H
#define CK_GEMV_H

#include <stddef.h>

/// Returns 1 when the SIMD matrix-vector kernels below are available on this CPU (AVX-512).
/// Their results do not depend on how the outputs are split into calls: every output element is
/// computed by the same sequence of operations wherever it lies.
int ck_gemv_available(void);

/// y[j·incy] = alpha · Σ_p a[j·lda + p] · x[p] + beta · y[j·incy] for j < rows (matrix rows are
/// contiguous: a product with a transposed weight matrix). beta 0 ignores y's old value.
void ck_gemv_rows_f32(size_t rows, size_t k, float alpha, const float *a, size_t lda, const float *x,
                      float beta, float *y, size_t incy);

/// y[j] = alpha · Σ_p x[p] · a[p·lda + j] + beta · y[j] for j < columns (the vector times a
/// row-major k × columns matrix). beta 0 ignores y's old value.
void ck_gemv_columns_f32(size_t columns, size_t k, float alpha, const float *a, size_t lda, const float *x,
                         float beta, float *y);

#endif
