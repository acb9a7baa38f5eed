#include "ck_activations.h"
#include "ck_cpu.h"
#include "activation_avx512.h"

#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// MARK: Portable

static inline float portable_one(ck_activation kind, float a, float b, float x) {
    switch (kind) {
    case CK_ACT_RELU: return x < 0 ? 0 : x;
    case CK_ACT_LEAKY_RELU: return x < 0 ? a * x : x;
    case CK_ACT_CLIP: { float y = x < a ? a : x; return y > b ? b : y; }
    case CK_ACT_SIGMOID: return 1 / (1 + expf(-x));
    case CK_ACT_TANH: return tanhf(x);
    case CK_ACT_HARD_SIGMOID: { float y = a * x + b; if (y != y) return y; y = y < 1 ? y : 1; return y > 0 ? y : 0; }
    case CK_ACT_GELU: return x * (erff(x * 0.70710678118654752f) + 1) * 0.5f;
    case CK_ACT_GELU_TANH: {
        float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1 + tanhf(inner));
    }
    case CK_ACT_HARD_SWISH: { float y = x * (1.0f / 6) + 0.5f; y = y < 1 ? y : 1; return x * (y > 0 ? y : 0); }
    case CK_ACT_SILU: return x * (1 / (1 + expf(-x)));
    case CK_ACT_EXP: return expf(x);
    case CK_ACT_ERF: return erff(x);
    }
    return x;
}

static void activation_portable(ck_activation kind, float a, float b, const float *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) dst[i] = portable_one(kind, a, b, src[i]);
}

#if defined(__x86_64__)

// MARK: AVX-512

__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void activation_avx512(ck_activation kind, float a, float b, const float *src, float *dst, size_t count) {
    const __m512 va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        _mm512_storeu_ps(dst + i, activation_avx512_one(kind, va, vb, _mm512_loadu_ps(src + i)));
    if (i < count) {
        __mmask16 mask = (__mmask16)((1u << (count - i)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(mask, src + i);
        _mm512_mask_storeu_ps(dst + i, mask, activation_avx512_one(kind, va, vb, x));
    }
}

// MARK: AVX2

__attribute__((target("avx2"))) __m256 _ZGVdN8v_expf(__m256 x);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_tanhf(__m256 x);
__attribute__((target("avx2"))) __m256 _ZGVdN8v_erff(__m256 x);

__attribute__((target("avx2,fma")))
static inline __m256 avx2_one(ck_activation kind, __m256 va, __m256 vb, __m256 x) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1), half = _mm256_set1_ps(0.5f);
    switch (kind) {
    case CK_ACT_RELU: return _mm256_max_ps(zero, x);
    case CK_ACT_LEAKY_RELU: {
        __m256 negative = _mm256_cmp_ps(x, zero, _CMP_LT_OQ);
        return _mm256_blendv_ps(x, _mm256_mul_ps(x, va), negative);
    }
    case CK_ACT_CLIP: return _mm256_min_ps(vb, _mm256_max_ps(va, x));
    case CK_ACT_SIGMOID:
        return _mm256_div_ps(one, _mm256_add_ps(one, _ZGVdN8v_expf(_mm256_sub_ps(zero, x))));
    case CK_ACT_TANH: return _ZGVdN8v_tanhf(x);
    case CK_ACT_HARD_SIGMOID:
        return _mm256_max_ps(zero, _mm256_min_ps(one, _mm256_fmadd_ps(va, x, vb)));
    case CK_ACT_GELU: {
        __m256 e = _ZGVdN8v_erff(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
        return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_add_ps(e, one)), half);
    }
    case CK_ACT_GELU_TANH: {
        __m256 cube = _mm256_mul_ps(_mm256_mul_ps(x, x), x);
        __m256 inner = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f),
                                     _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), cube, x));
        return _mm256_mul_ps(_mm256_mul_ps(half, x), _mm256_add_ps(one, _ZGVdN8v_tanhf(inner)));
    }
    case CK_ACT_HARD_SWISH: {
        __m256 y = _mm256_fmadd_ps(x, _mm256_set1_ps(1.0f / 6), half);
        return _mm256_mul_ps(x, _mm256_max_ps(zero, _mm256_min_ps(one, y)));
    }
    case CK_ACT_SILU:
        return _mm256_div_ps(x, _mm256_add_ps(one, _ZGVdN8v_expf(_mm256_sub_ps(zero, x))));
    case CK_ACT_EXP: return _ZGVdN8v_expf(x);
    case CK_ACT_ERF: return _ZGVdN8v_erff(x);
    }
    return x;
}

__attribute__((target("avx2,fma")))
static void activation_avx2(ck_activation kind, float a, float b, const float *src, float *dst, size_t count) {
    const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
    size_t i = 0;
    for (; i + 8 <= count; i += 8)
        _mm256_storeu_ps(dst + i, avx2_one(kind, va, vb, _mm256_loadu_ps(src + i)));
    activation_portable(kind, a, b, src + i, dst + i, count - i);
}

#endif

#if defined(__x86_64__)

/// x + bias (+ addend), then the cheap activations in the same pass; others run on the block afterwards.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void bias_activation_avx512(float bias, const float *addend, int has_activation, ck_activation kind, float a,
                                   float b, float *x, size_t count) {
    const __m512 vbias = _mm512_set1_ps(bias), va = _mm512_set1_ps(a), vb = _mm512_set1_ps(b);
    int inline_kind = !has_activation || kind == CK_ACT_RELU || kind == CK_ACT_CLIP;
    size_t i = 0;
#define BIAS_LOOP(sum, expression)                                                         \
    for (; i + 16 <= count; i += 16) {                                                     \
        const __mmask16 mask = 0xFFFF;                                                     \
        __m512 v = sum;                                                                    \
        _mm512_storeu_ps(x + i, expression);                                               \
    }                                                                                      \
    if (i < count) {                                                                       \
        const __mmask16 mask = (__mmask16)((1u << (count - i)) - 1);                       \
        __m512 v = sum;                                                                    \
        _mm512_mask_storeu_ps(x + i, mask, expression);                                    \
    }
#define PLAIN _mm512_add_ps(_mm512_maskz_loadu_ps(mask, x + i), vbias)
#define WITH_ADDEND _mm512_add_ps(PLAIN, _mm512_maskz_loadu_ps(mask, addend + i))
#define FINISH(sum)                                                                        \
    if (!inline_kind) {                                                                    \
        BIAS_LOOP(sum, v)                                                                  \
        activation_avx512(kind, a, b, x, x, count);                                        \
    } else if (!has_activation) {                                                          \
        BIAS_LOOP(sum, v)                                                                  \
    } else if (kind == CK_ACT_RELU) {                                                      \
        BIAS_LOOP(sum, _mm512_max_ps(_mm512_setzero_ps(), v))                              \
    } else {                                                                               \
        BIAS_LOOP(sum, _mm512_min_ps(vb, _mm512_max_ps(va, v)))                            \
    }
    if (addend) {
        FINISH(WITH_ADDEND)
    } else {
        FINISH(PLAIN)
    }
#undef FINISH
#undef WITH_ADDEND
#undef PLAIN
#undef BIAS_LOOP
}

#endif

void ck_bias_activation_f32(float bias, const float *addend, int has_activation, ck_activation kind, float a, float b,
                            float *x, size_t count) {
#if defined(__x86_64__)
    if (ck_cpu_level() == CK_LEVEL_AVX512) {
        bias_activation_avx512(bias, addend, has_activation, kind, a, b, x, count);
        return;
    }
#endif
    for (size_t i = 0; i < count; i++) x[i] += bias;
    if (addend)
        for (size_t i = 0; i < count; i++) x[i] += addend[i];
    if (has_activation) ck_activation_f32(kind, a, b, x, x, count);
}

void ck_activation_f32(ck_activation kind, float a, float b, const float *src, float *dst, size_t count) {
#if defined(__x86_64__)
    switch (ck_cpu_level()) {
    case CK_LEVEL_AVX512: activation_avx512(kind, a, b, src, dst, count); return;
    case CK_LEVEL_AVX2: activation_avx2(kind, a, b, src, dst, count); return;
    default: break;
    }
#endif
    activation_portable(kind, a, b, src, dst, count);
}
