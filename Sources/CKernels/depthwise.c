#include "ck_depthwise.h"
#include "ck_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void depthwise_portable(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                               size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                               float *y, size_t out_h, size_t out_w) {
    for (size_t oh = 0; oh < out_h; oh++) {
        float *line = y + oh * out_w;
        for (size_t ow = 0; ow < out_w; ow++) {
            float sum = 0;
            const float *origin = padded + oh * stride_h * padded_w + ow * stride_w;
            for (size_t kh = 0; kh < kernel_h; kh++)
                for (size_t kw = 0; kw < kernel_w; kw++)
                    sum += w[kh * kernel_w + kw] * origin[kh * dilation_h * padded_w + kw * dilation_w];
            line[ow] = sum + line[ow];
        }
    }
}

#if defined(__x86_64__)

/// 16 outputs of one row, stride 1 or 2 along the row; `count` ≤ 16 of them are valid. Masked
/// loads never touch memory past the last element a valid lane needs.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static inline __m512 row_taps_avx512(const float *origin, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                                     size_t stride_w, size_t dilation_h, size_t dilation_w, size_t count) {
    __m512 sum = _mm512_setzero_ps();
    const __mmask16 mask = (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1);
    if (stride_w == 1) {
        for (size_t kh = 0; kh < kernel_h; kh++) {
            const float *row = origin + kh * dilation_h * padded_w;
            for (size_t kw = 0; kw < kernel_w; kw++) {
                __m512 v = _mm512_maskz_loadu_ps(mask, row + kw * dilation_w);
                sum = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * kernel_w + kw]), v, sum);
            }
        }
    } else {
        // Stride 2: lanes 2i of 32 consecutive floats. The last valid lane needs element 2(count−1).
        const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
        size_t needed = 2 * count - 1;
        const __mmask16 low = (__mmask16)(needed >= 16 ? 0xFFFF : (1u << needed) - 1);
        const __mmask16 high = (__mmask16)(needed <= 16 ? 0 : needed >= 32 ? 0xFFFF : (1u << (needed - 16)) - 1);
        for (size_t kh = 0; kh < kernel_h; kh++) {
            const float *row = origin + kh * dilation_h * padded_w;
            for (size_t kw = 0; kw < kernel_w; kw++) {
                const float *src = row + kw * dilation_w;
                __m512 a = _mm512_maskz_loadu_ps(low, src), b = _mm512_maskz_loadu_ps(high, src + 16);
                __m512 v = _mm512_permutex2var_ps(a, even, b);
                sum = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * kernel_w + kw]), v, sum);
            }
        }
    }
    return sum;
}

__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void depthwise_avx512(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                             size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                             float *y, size_t out_h, size_t out_w) {
    for (size_t oh = 0; oh < out_h; oh++) {
        float *line = y + oh * out_w;
        const float *origin = padded + oh * stride_h * padded_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            size_t count = out_w - ow < 16 ? out_w - ow : 16;
            __mmask16 mask = (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1);
            __m512 sum = row_taps_avx512(origin + ow * stride_w, padded_w, w, kernel_h, kernel_w, stride_w,
                                         dilation_h, dilation_w, count);
            __m512 old = _mm512_maskz_loadu_ps(mask, line + ow);
            _mm512_mask_storeu_ps(line + ow, mask, _mm512_add_ps(sum, old));
        }
    }
}

#endif

void ck_depthwise_plane_f32(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                            size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                            float *y, size_t out_h, size_t out_w) {
#if defined(__x86_64__)
    if ((stride_w == 1 || stride_w == 2) && ck_cpu_level() >= CK_LEVEL_AVX512) {
        depthwise_avx512(padded, padded_w, w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, y, out_h, out_w);
        return;
    }
#endif
    depthwise_portable(padded, padded_w, w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, y, out_h, out_w);
}
