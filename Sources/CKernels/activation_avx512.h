#ifndef CK_ACTIVATION_AVX512_H
#define CK_ACTIVATION_AVX512_H

// Private to CKernels (not under include/): one activation on 16 floats in registers, shared by
// activations.c and the kernels that apply it to their results before storing them (gemm.c,
// direct_conv.c).

#include "ck_activations.h"
#include "exp_avx512.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f"))) __m512 _ZGVeN16v_tanhf(__m512 x);
__attribute__((target("avx512f"))) __m512 _ZGVeN16v_erff(__m512 x);

__attribute__((target("avx512f,avx512dq,avx2,fma")))
static inline __m512 activation_avx512_one(ck_activation kind, __m512 va, __m512 vb, __m512 x) {
    const __m512 zero = _mm512_setzero_ps(), one = _mm512_set1_ps(1), half = _mm512_set1_ps(0.5f);
    switch (kind) {
    // max/min return their second operand when either is NaN, so x goes second to propagate NaN.
    case CK_ACT_RELU: return _mm512_max_ps(zero, x);
    case CK_ACT_LEAKY_RELU: {
        __mmask16 negative = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
        return _mm512_mask_mul_ps(x, negative, x, va);
    }
    case CK_ACT_CLIP: return _mm512_min_ps(vb, _mm512_max_ps(va, x));
    case CK_ACT_SIGMOID:
        return _mm512_div_ps(one, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(zero, x))));
    case CK_ACT_TANH: return _ZGVeN16v_tanhf(x);
    case CK_ACT_HARD_SIGMOID:
        return _mm512_max_ps(zero, _mm512_min_ps(one, _mm512_fmadd_ps(va, x, vb)));
    case CK_ACT_GELU: {
        __m512 e = _ZGVeN16v_erff(_mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f)));
        return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_add_ps(e, one)), half);
    }
    case CK_ACT_GELU_TANH: {
        __m512 cube = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
        __m512 inner = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f),
                                     _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), cube, x));
        return _mm512_mul_ps(_mm512_mul_ps(half, x), _mm512_add_ps(one, _ZGVeN16v_tanhf(inner)));
    }
    case CK_ACT_HARD_SWISH: {
        __m512 y = _mm512_fmadd_ps(x, _mm512_set1_ps(1.0f / 6), half);
        return _mm512_mul_ps(x, _mm512_max_ps(zero, _mm512_min_ps(one, y)));
    }
    case CK_ACT_SILU:
        return _mm512_div_ps(x, _mm512_add_ps(one, exp_avx512(_mm512_sub_ps(zero, x))));
    case CK_ACT_EXP: return exp_avx512(x);
    case CK_ACT_ERF: return _ZGVeN16v_erff(x);
    }
    return x;
}

/// Applies `kind` in registers to the vectors v[i], i < count, with i % group < used (a tile of
/// rows of `group` vectors of which `used` are live; all three constants after inlining). The
/// switch is taken once, outside the unrolled loop, so the tile's accumulators stay in registers
/// (a switch per vector made clang spill them: SiLU then cost more than the product). Returns 0,
/// leaving v alone, for the kinds that call libmvec (tanh, erf, the Gelus): callers apply those
/// to the stored values.
__attribute__((target("avx512f,avx512dq,avx2,fma"), always_inline))
static inline int activation_avx512_registers(ck_activation kind, __m512 va, __m512 vb, __m512 *v, const int count,
                                              const int group, const int used) {
#define CK_ACTIVATE_ALL(k)                                                           \
    _Pragma("clang loop unroll(full)") for (int i = 0; i < count; i++)               \
        if (i % group < used) v[i] = activation_avx512_one(k, va, vb, v[i]);         \
    return 1;
    switch (kind) {
    case CK_ACT_RELU: CK_ACTIVATE_ALL(CK_ACT_RELU)
    case CK_ACT_LEAKY_RELU: CK_ACTIVATE_ALL(CK_ACT_LEAKY_RELU)
    case CK_ACT_CLIP: CK_ACTIVATE_ALL(CK_ACT_CLIP)
    case CK_ACT_SIGMOID: CK_ACTIVATE_ALL(CK_ACT_SIGMOID)
    case CK_ACT_HARD_SIGMOID: CK_ACTIVATE_ALL(CK_ACT_HARD_SIGMOID)
    case CK_ACT_HARD_SWISH: CK_ACTIVATE_ALL(CK_ACT_HARD_SWISH)
    case CK_ACT_SILU: CK_ACTIVATE_ALL(CK_ACT_SILU)
    case CK_ACT_EXP: CK_ACTIVATE_ALL(CK_ACT_EXP)
    default: return 0;
    }
#undef CK_ACTIVATE_ALL
}

#endif

#endif
