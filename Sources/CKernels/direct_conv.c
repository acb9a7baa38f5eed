#include "ck_direct_conv.h"
#include "ck_activations.h"
#include "ck_cpu.h"

#include <stddef.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

size_t ck_direct_conv_packed_count(size_t out_channels, size_t in_channels, size_t kernel_h, size_t kernel_w) {
    return (out_channels + 15) / 16 * 16 * in_channels * kernel_h * kernel_w;
}

void ck_direct_conv_pack(const float *weights, size_t out_channels, size_t in_channels, size_t kernel_h,
                         size_t kernel_w, float *packed) {
    size_t taps = in_channels * kernel_h * kernel_w, blocks = (out_channels + 15) / 16;
    for (size_t block = 0; block < blocks; block++)
        for (size_t t = 0; t < taps; t++)
            for (size_t o = 0; o < 16; o++) {
                size_t channel = block * 16 + o;
                packed[(block * taps + t) * 16 + o] = channel < out_channels ? weights[channel * taps + t] : 0;
            }
}

#if defined(__x86_64__)

int ck_direct_conv_available(void) { return ck_cpu_level() >= CK_LEVEL_AVX512; }

static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// Sixteen output channels × up to sixteen output columns of one output row, kept in 16
/// registers while every input channel and window tap is accumulated.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static inline void tile(const float *padded, size_t in_channels, size_t padded_h, size_t padded_w,
                        const float *weights, size_t kernel_h, size_t kernel_w, size_t stride_w,
                        size_t dilation_h, size_t dilation_w, size_t top, size_t left, size_t count,
                        const float *bias, int clamp, __m512 low_bound, __m512 high_bound,
                        float *y, size_t plane, size_t channels) {
    __m512 acc[16];
#pragma clang loop unroll(full)
    for (int o = 0; o < 16; o++) acc[o] = _mm512_setzero_ps();
    const __mmask16 mask = lanes(count);
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const size_t needed = 2 * count - 1;
    const __mmask16 low = lanes(needed), high = lanes(needed > 16 ? needed - 16 : 0);
    const float *w = weights;
    for (size_t c = 0; c < in_channels; c++) {
        for (size_t kh = 0; kh < kernel_h; kh++) {
            const float *row = padded + (c * padded_h + top + kh * dilation_h) * padded_w + left;
            for (size_t kw = 0; kw < kernel_w; kw++, w += 16) {
                const float *src = row + kw * dilation_w;
                __m512 v;
                if (stride_w == 1) {
                    v = _mm512_maskz_loadu_ps(mask, src);
                } else {
                    v = _mm512_permutex2var_ps(_mm512_maskz_loadu_ps(low, src), even, _mm512_maskz_loadu_ps(high, src + 16));
                }
#pragma clang loop unroll(full)
                for (int o = 0; o < 16; o++) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o]), v, acc[o]);
            }
        }
    }
    // Constant indices only (the test inside the unrolled loop), so acc stays in registers.
#pragma clang loop unroll(full)
    for (int o = 0; o < 16; o++) {
        if ((size_t)o < channels) {
            __m512 sum = bias ? _mm512_add_ps(acc[o], _mm512_set1_ps(bias[o])) : acc[o];
            // Relu and Clip as max/min with x second, so NaN passes through as in ck_activation_f32.
            if (clamp) sum = _mm512_min_ps(high_bound, _mm512_max_ps(low_bound, sum));
            _mm512_mask_storeu_ps(y + o * plane, mask, sum);
        }
    }
}

__attribute__((target("avx512f,avx512dq,avx2,fma")))
void ck_direct_conv_rows_f32(const float *padded, size_t in_channels, size_t padded_h, size_t padded_w,
                             const float *packed, size_t block, size_t kernel_h, size_t kernel_w,
                             size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                             const float *bias, const ck_direct_conv_activation *activation,
                             float *y, size_t out_channels, size_t out_h, size_t out_w,
                             size_t row_begin, size_t row_end) {
    const size_t taps = in_channels * kernel_h * kernel_w, plane = out_h * out_w;
    const float *weights = packed + block * taps * 16;
    const size_t first = block * 16, channels = out_channels - first < 16 ? out_channels - first : 16;
    // Relu and Clip are applied in registers; other functions to each finished row.
    int clamp = 0, after = 0;
    __m512 low_bound = _mm512_set1_ps(-__builtin_inff()), high_bound = _mm512_set1_ps(__builtin_inff());
    if (activation && activation->kind == CK_ACT_RELU) {
        clamp = 1;
        low_bound = _mm512_setzero_ps();
    } else if (activation && activation->kind == CK_ACT_CLIP) {
        clamp = 1;
        low_bound = _mm512_set1_ps(activation->a);
        high_bound = _mm512_set1_ps(activation->b);
    } else if (activation) {
        after = 1;
    }
    for (size_t oh = row_begin; oh < row_end; oh++) {
        for (size_t ow = 0; ow < out_w; ow += 16) {
            size_t count = out_w - ow < 16 ? out_w - ow : 16;
            tile(padded, in_channels, padded_h, padded_w, weights, kernel_h, kernel_w, stride_w, dilation_h,
                 dilation_w, oh * stride_h, ow * stride_w, count, bias ? bias + first : NULL, clamp, low_bound,
                 high_bound, y + first * plane + oh * out_w + ow, plane, channels);
        }
        if (after)
            for (size_t o = 0; o < channels; o++) {
                float *line = y + (first + o) * plane + oh * out_w;
                ck_activation_f32(activation->kind, activation->a, activation->b, line, line, out_w);
            }
    }
}

#else

int ck_direct_conv_available(void) { return 0; }

void ck_direct_conv_rows_f32(const float *padded, size_t in_channels, size_t padded_h, size_t padded_w,
                             const float *packed, size_t block, size_t kernel_h, size_t kernel_w,
                             size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                             const float *bias, const ck_direct_conv_activation *activation,
                             float *y, size_t out_channels, size_t out_h, size_t out_w,
                             size_t row_begin, size_t row_end) {
    (void)bias; (void)activation; (void)padded; (void)in_channels; (void)padded_h; (void)padded_w; (void)packed; (void)block;
    (void)kernel_h; (void)kernel_w; (void)stride_h; (void)stride_w; (void)dilation_h; (void)dilation_w;
    (void)y; (void)out_channels; (void)out_h; (void)out_w; (void)row_begin; (void)row_end;
}

#endif
