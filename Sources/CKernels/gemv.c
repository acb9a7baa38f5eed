#include "ck_gemv.h"
#include "ck_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>

int ck_gemv_available(void) { return ck_cpu_level() >= CK_LEVEL_AVX512; }

/// Mask of the first `count` (≤ 16) lanes.
static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// Dot products of four rows with x, then the same for single remaining rows: each row uses two
/// accumulators over 32-float steps, a masked tail and one fixed-order reduction, so its result
/// does not depend on its neighbours.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
void ck_gemv_rows_f32(size_t rows, size_t k, float alpha, const float *a, size_t lda, const float *x,
                      float beta, float *y, size_t incy) {
    size_t j = 0;
    for (; j + 4 <= rows; j += 4) {
        const float *r0 = a + j * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
        __m512 s0a = _mm512_setzero_ps(), s0b = s0a, s1a = s0a, s1b = s0a, s2a = s0a, s2b = s0a, s3a = s0a, s3b = s0a;
        size_t p = 0;
        for (; p + 32 <= k; p += 32) {
            __m512 xa = _mm512_loadu_ps(x + p), xb = _mm512_loadu_ps(x + p + 16);
            s0a = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + p), xa, s0a); s0b = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + p + 16), xb, s0b);
            s1a = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + p), xa, s1a); s1b = _mm512_fmadd_ps(_mm512_loadu_ps(r1 + p + 16), xb, s1b);
            s2a = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + p), xa, s2a); s2b = _mm512_fmadd_ps(_mm512_loadu_ps(r2 + p + 16), xb, s2b);
            s3a = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + p), xa, s3a); s3b = _mm512_fmadd_ps(_mm512_loadu_ps(r3 + p + 16), xb, s3b);
        }
        if (p < k) {
            __mmask16 ma = lanes(k - p), mb = lanes(k - p > 16 ? k - p - 16 : 0);
            __m512 xa = _mm512_maskz_loadu_ps(ma, x + p), xb = _mm512_maskz_loadu_ps(mb, x + p + 16);
            s0a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ma, r0 + p), xa, s0a); s0b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mb, r0 + p + 16), xb, s0b);
            s1a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ma, r1 + p), xa, s1a); s1b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mb, r1 + p + 16), xb, s1b);
            s2a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ma, r2 + p), xa, s2a); s2b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mb, r2 + p + 16), xb, s2b);
            s3a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ma, r3 + p), xa, s3a); s3b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mb, r3 + p + 16), xb, s3b);
        }
        float sums[4] = {
            _mm512_reduce_add_ps(_mm512_add_ps(s0a, s0b)), _mm512_reduce_add_ps(_mm512_add_ps(s1a, s1b)),
            _mm512_reduce_add_ps(_mm512_add_ps(s2a, s2b)), _mm512_reduce_add_ps(_mm512_add_ps(s3a, s3b)),
        };
        for (int i = 0; i < 4; i++) {
            float *out = y + (j + i) * incy;
            *out = beta == 0 ? alpha * sums[i] : alpha * sums[i] + beta * *out;
        }
    }
    for (; j < rows; j++) {
        const float *r0 = a + j * lda;
        __m512 s0a = _mm512_setzero_ps(), s0b = s0a;
        size_t p = 0;
        for (; p + 32 <= k; p += 32) {
            s0a = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + p), _mm512_loadu_ps(x + p), s0a);
            s0b = _mm512_fmadd_ps(_mm512_loadu_ps(r0 + p + 16), _mm512_loadu_ps(x + p + 16), s0b);
        }
        if (p < k) {
            __mmask16 ma = lanes(k - p), mb = lanes(k - p > 16 ? k - p - 16 : 0);
            s0a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(ma, r0 + p), _mm512_maskz_loadu_ps(ma, x + p), s0a);
            s0b = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mb, r0 + p + 16), _mm512_maskz_loadu_ps(mb, x + p + 16), s0b);
        }
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(s0a, s0b));
        float *out = y + j * incy;
        *out = beta == 0 ? alpha * sum : alpha * sum + beta * *out;
    }
}

/// Sixteen columns per vector, four vectors per pass over the rows of the matrix; each lane
/// accumulates x[p] · a[p][j] in order of p, whatever vector it is in.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
void ck_gemv_columns_f32(size_t columns, size_t k, float alpha, const float *a, size_t lda, const float *x,
                         float beta, float *y) {
    for (size_t j = 0; j < columns; j += 64) {
        size_t left = columns - j;
        __mmask16 m0 = lanes(left), m1 = lanes(left > 16 ? left - 16 : 0);
        __mmask16 m2 = lanes(left > 32 ? left - 32 : 0), m3 = lanes(left > 48 ? left - 48 : 0);
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t p = 0; p < k; p++) {
            const float *row = a + p * lda + j;
            __m512 xp = _mm512_set1_ps(x[p]);
            s0 = _mm512_fmadd_ps(xp, _mm512_maskz_loadu_ps(m0, row), s0);
            s1 = _mm512_fmadd_ps(xp, _mm512_maskz_loadu_ps(m1, row + 16), s1);
            s2 = _mm512_fmadd_ps(xp, _mm512_maskz_loadu_ps(m2, row + 32), s2);
            s3 = _mm512_fmadd_ps(xp, _mm512_maskz_loadu_ps(m3, row + 48), s3);
        }
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
        __m512 sums[4] = {s0, s1, s2, s3};
        __mmask16 masks[4] = {m0, m1, m2, m3};
        for (int i = 0; i < 4; i++) {
            float *out = y + j + 16 * i;
            __m512 result = _mm512_mul_ps(va, sums[i]);
            if (beta != 0) result = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(masks[i], out), result);
            _mm512_mask_storeu_ps(out, masks[i], result);
        }
    }
}

#else

int ck_gemv_available(void) { return 0; }

void ck_gemv_rows_f32(size_t rows, size_t k, float alpha, const float *a, size_t lda, const float *x,
                      float beta, float *y, size_t incy) {
    for (size_t j = 0; j < rows; j++) {
        float sum = 0;
        for (size_t p = 0; p < k; p++) sum += a[j * lda + p] * x[p];
        y[j * incy] = beta == 0 ? alpha * sum : alpha * sum + beta * y[j * incy];
    }
}

void ck_gemv_columns_f32(size_t columns, size_t k, float alpha, const float *a, size_t lda, const float *x,
                         float beta, float *y) {
    for (size_t j = 0; j < columns; j++) {
        float sum = 0;
        for (size_t p = 0; p < k; p++) sum += x[p] * a[p * lda + j];
        y[j] = beta == 0 ? alpha * sum : alpha * sum + beta * y[j];
    }
}

#endif
