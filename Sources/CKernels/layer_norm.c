#include "ck_layer_norm.h"
#include "ck_cpu.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void row_portable(const float *x, float *y, size_t cols, const float *gamma, const float *beta, float epsilon) {
    double sum = 0;
    for (size_t c = 0; c < cols; c++) sum += x[c];
    float mean = (float)(sum / (double)cols);
    double squares = 0;
    for (size_t c = 0; c < cols; c++) {
        float d = x[c] - mean;
        squares += d * d;
    }
    float deviation = sqrtf((float)(squares / (double)cols) + epsilon);
    for (size_t c = 0; c < cols; c++) {
        float value = (x[c] - mean) / deviation * gamma[c];
        y[c] = beta ? value + beta[c] : value;
    }
}

#if defined(__x86_64__)

static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// Adds the 16 floats of v, widened to double, to two accumulators of 8.
__attribute__((target("avx512f,avx512dq")))
static inline void accumulate(__m512 v, __m512d *low, __m512d *high) {
    *low = _mm512_add_pd(*low, _mm512_cvtps_pd(_mm512_castps512_ps256(v)));
    *high = _mm512_add_pd(*high, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))));
}

/// Σ x over a row of `cols` floats, in double.
__attribute__((target("avx512f,avx512dq")))
static inline double row_sum_avx512(const float *x, size_t cols) {
    __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
    for (size_t c = 0; c < cols; c += 16) accumulate(_mm512_maskz_loadu_ps(lanes(cols - c), x + c), &low, &high);
    return _mm512_reduce_add_pd(_mm512_add_pd(low, high));
}

__attribute__((target("avx512f,avx512dq")))
static void row_avx512(const float *x, float *y, size_t cols, const float *gamma, const float *beta, float epsilon) {
    float mean = (float)(row_sum_avx512(x, cols) / (double)cols);
    const __m512 means = _mm512_set1_ps(mean);
    __m512d low = _mm512_setzero_pd(), high = _mm512_setzero_pd();
    for (size_t c = 0; c < cols; c += 16) {
        __mmask16 mask = lanes(cols - c);
        __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, x + c), means);
        accumulate(_mm512_mul_ps(d, d), &low, &high);
    }
    float deviation = sqrtf((float)(_mm512_reduce_add_pd(_mm512_add_pd(low, high)) / (double)cols) + epsilon);
    const __m512 deviations = _mm512_set1_ps(deviation);
    for (size_t c = 0; c < cols; c += 16) {
        __mmask16 mask = lanes(cols - c);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + c), means);
        __m512 value = _mm512_mul_ps(_mm512_div_ps(d, deviations), _mm512_maskz_loadu_ps(mask, gamma + c));
        if (beta) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, beta + c));
        _mm512_mask_storeu_ps(y + c, mask, value);
    }
}

/// One row of `ck_layer_norm_standard_rows_f32`: Σ x and Σ (x − mean)² in double, eight lanes each.
__attribute__((target("avx512f,avx512dq")))
static void standard_row_avx512(const float *x, float *y, size_t cols, const float *gamma, const float *beta,
                                float epsilon, int rms, double *mean_out, double *inverse_out) {
    double mean = rms ? 0 : row_sum_avx512(x, cols) / (double)cols;
    const __m512d means = _mm512_set1_pd(mean);
    __m512d squares = _mm512_setzero_pd();
    for (size_t c = 0; c < cols; c += 8) {
        size_t count = cols - c < 8 ? cols - c : 8;
        __mmask8 mask = (__mmask8)(count >= 8 ? 0xFF : (1u << count) - 1);
        __m512d d = _mm512_maskz_sub_pd(mask, _mm512_cvtps_pd(_mm512_castps512_ps256(_mm512_maskz_loadu_ps((__mmask16)mask, x + c))), means);
        squares = _mm512_fmadd_pd(d, d, squares);
    }
    double inverse = 1 / sqrt(_mm512_reduce_add_pd(squares) / (double)cols + (double)epsilon);
    *mean_out = mean;
    *inverse_out = inverse;
    const __m512 m = _mm512_set1_ps((float)mean), inv = _mm512_set1_ps((float)inverse);
    for (size_t c = 0; c < cols; c += 16) {
        __mmask16 mask = lanes(cols - c);
        __m512 value = _mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + c), m), inv),
                                     _mm512_maskz_loadu_ps(mask, gamma + c));
        if (beta) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, beta + c));
        _mm512_mask_storeu_ps(y + c, mask, value);
    }
}

#endif

static void standard_row_portable(const float *x, float *y, size_t cols, const float *gamma, const float *beta,
                                  float epsilon, int rms, double *mean_out, double *inverse_out) {
    double mean = 0;
    if (!rms) {
        for (size_t c = 0; c < cols; c++) mean += x[c];
        mean /= (double)cols;
    }
    double squares = 0;
    for (size_t c = 0; c < cols; c++) {
        double d = (double)x[c] - mean;
        squares += d * d;
    }
    double inverse = 1 / sqrt(squares / (double)cols + (double)epsilon);
    *mean_out = mean;
    *inverse_out = inverse;
    float m = (float)mean, inv = (float)inverse;
    for (size_t c = 0; c < cols; c++) {
        float value = (x[c] - m) * inv * gamma[c];
        y[c] = beta ? value + beta[c] : value;
    }
}

void ck_layer_norm_standard_rows_f32(const float *x, float *y, size_t rows, size_t cols, const float *gamma,
                                     const float *beta, float epsilon, int rms, double *means, double *inverses) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= CK_LEVEL_AVX512) {
        for (size_t r = 0; r < rows; r++)
            standard_row_avx512(x + r * cols, y + r * cols, cols, gamma, beta, epsilon, rms, means + r, inverses + r);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++)
        standard_row_portable(x + r * cols, y + r * cols, cols, gamma, beta, epsilon, rms, means + r, inverses + r);
}

void ck_layer_norm_rows_f32(const float *x, float *y, size_t rows, size_t cols, const float *gamma,
                            const float *beta, float epsilon) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= CK_LEVEL_AVX512) {
        for (size_t r = 0; r < rows; r++) row_avx512(x + r * cols, y + r * cols, cols, gamma, beta, epsilon);
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++) row_portable(x + r * cols, y + r * cols, cols, gamma, beta, epsilon);
}
