#ifndef CK_ACTIVATIONS_H
#define CK_ACTIVATIONS_H

#include <stddef.h>

/// Elementwise float functions with SIMD versions. `a` and `b` are the parameters some take.
typedef enum {
    CK_ACT_RELU = 0,        ///< max(x, 0); NaN stays NaN
    CK_ACT_LEAKY_RELU = 1,  ///< x < 0 ? a·x : x
    CK_ACT_CLIP = 2,        ///< min(max(x, a), b)
    CK_ACT_SIGMOID = 3,     ///< 1 / (1 + e^-x)
    CK_ACT_TANH = 4,
    CK_ACT_HARD_SIGMOID = 5,  ///< max(0, min(1, a·x + b))
    CK_ACT_GELU = 6,        ///< 0.5·x·(1 + erf(x/√2))
    CK_ACT_GELU_TANH = 7,   ///< 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
    CK_ACT_HARD_SWISH = 8,  ///< x·max(0, min(1, x/6 + 1/2))
    CK_ACT_SILU = 9,        ///< x·sigmoid(x)
    CK_ACT_EXP = 10,        ///< e^x
    CK_ACT_ERF = 11,        ///< erf(x)
} ck_activation;

/// dst[i] = f(src[i]) for i < count; `dst` may equal `src`. Uses the best SIMD level available
/// (see ck_cpu.h). tanh and erf come from glibc's vector math library (libmvec, ≤ 4 ulp), and so does
/// exp below AVX-512; the AVX-512 exp is its own (about 1 ulp).
void ck_activation_f32(ck_activation kind, float a, float b, const float *src, float *dst, size_t count);

/// x[i] = f((x[i] + bias) + addend[i]) for i < count (no addend when `addend` is NULL), where f is
/// `kind` when `has_activation` is nonzero and the identity otherwise: a GEMM's output block
/// finished in one pass while it is in cache (the addend is a fused residual connection).
void ck_bias_activation_f32(float bias, const float *addend, int has_activation, ck_activation kind, float a, float b,
                            float *x, size_t count);

#endif
