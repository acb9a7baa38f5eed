#include "ck_depthwise.h"
#include "ck_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static void depthwise_portable(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                               size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                               const ck_depthwise_epilogue *e, float *y, size_t out_h, size_t out_w) {
    for (size_t oh = 0; oh < out_h; oh++) {
        float *line = y + oh * out_w;
        for (size_t ow = 0; ow < out_w; ow++) {
            float sum = 0;
            const float *origin = padded + oh * stride_h * padded_w + ow * stride_w;
            for (size_t kh = 0; kh < kernel_h; kh++)
                for (size_t kw = 0; kw < kernel_w; kw++)
                    sum += w[kh * kernel_w + kw] * origin[kh * dilation_h * padded_w + kw * dilation_w];
            line[ow] = sum + e->bias;
        }
    }
}

#if defined(__x86_64__)

#define AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

/// The low `count` lanes (count ≤ 16).
static inline __mmask16 lanes(size_t count) { return (__mmask16)(count >= 16 ? 0xFFFF : (1u << count) - 1); }

/// Bounds that apply Relu or Clip in registers as min(high, max(low, x)) (x second, so NaN
/// passes through); ±∞, the identity, for other activations, which run on the finished plane.
AVX512 static inline void clamp_bounds(const ck_depthwise_epilogue *e, __m512 *low, __m512 *high) {
    float lo = -__builtin_inff(), hi = __builtin_inff();
    if (e->has_activation && e->activation == CK_ACT_RELU) lo = 0;
    if (e->has_activation && e->activation == CK_ACT_CLIP) { lo = e->a; hi = e->b; }
    *low = _mm512_set1_ps(lo);
    *high = _mm512_set1_ps(hi);
}

/// sum + bias, clamped.
AVX512 static inline __m512 finish(__m512 sum, __m512 bias, __m512 low, __m512 high) {
    return _mm512_min_ps(high, _mm512_max_ps(low, _mm512_add_ps(sum, bias)));
}

/// Any kernel size and dilation, stride 1 or 2 along rows: 16 outputs of a row at a time, the
/// taps in row-major order. Masked loads never touch memory past the last element a valid lane needs.
AVX512 static void depthwise_generic_avx512(const float *padded, size_t padded_w, const float *w, size_t kernel_h,
                                            size_t kernel_w, size_t stride_h, size_t stride_w, size_t dilation_h,
                                            size_t dilation_w, const ck_depthwise_epilogue *e, float *y,
                                            size_t out_h, size_t out_w) {
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512 bias = _mm512_set1_ps(e->bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    for (size_t oh = 0; oh < out_h; oh++) {
        float *line = y + oh * out_w;
        const float *origin = padded + oh * stride_h * padded_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            size_t count = out_w - ow < 16 ? out_w - ow : 16;
            __m512 sum = _mm512_setzero_ps();
            if (stride_w == 1) {
                for (size_t kh = 0; kh < kernel_h; kh++) {
                    const float *row = origin + ow + kh * dilation_h * padded_w;
                    for (size_t kw = 0; kw < kernel_w; kw++) {
                        __m512 v = _mm512_maskz_loadu_ps(lanes(count), row + kw * dilation_w);
                        sum = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * kernel_w + kw]), v, sum);
                    }
                }
            } else {
                // Lanes 2i of 32 consecutive floats; the last valid lane needs element 2(count−1).
                size_t needed = 2 * count - 1;
                __mmask16 low = lanes(needed), high = needed <= 16 ? 0 : lanes(needed - 16);
                for (size_t kh = 0; kh < kernel_h; kh++) {
                    const float *row = origin + 2 * ow + kh * dilation_h * padded_w;
                    for (size_t kw = 0; kw < kernel_w; kw++) {
                        const float *src = row + kw * dilation_w;
                        __m512 a = _mm512_maskz_loadu_ps(low, src), b = _mm512_maskz_loadu_ps(high, src + 16);
                        sum = _mm512_fmadd_ps(_mm512_set1_ps(w[kh * kernel_w + kw]), _mm512_permutex2var_ps(a, even, b), sum);
                    }
                }
            }
            _mm512_mask_storeu_ps(line + ow, lanes(count), finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

/// The three taps of one weight row applied to the row at `src` (stride 1): k0·src[i] + k1·src[i+1] + k2·src[i+2].
AVX512 static inline __m512 taps3(__m512 sum, const float *src, __mmask16 mask, __m512 k0, __m512 k1, __m512 k2) {
    sum = _mm512_fmadd_ps(k0, _mm512_maskz_loadu_ps(mask, src), sum);
    sum = _mm512_fmadd_ps(k1, _mm512_maskz_loadu_ps(mask, src + 1), sum);
    return _mm512_fmadd_ps(k2, _mm512_maskz_loadu_ps(mask, src + 2), sum);
}

/// 3×3, stride 1, no dilation: the nine weights stay in registers, and two output rows are
/// computed together so the two input rows they share are loaded once. Each output still sums
/// its taps in row-major order, as the generic kernel does.
AVX512 static void depthwise3x3s1_avx512(const float *padded, size_t padded_w, const float *w,
                                         const ck_depthwise_epilogue *e, float *y, size_t out_h, size_t out_w) {
    const __m512 k0 = _mm512_set1_ps(w[0]), k1 = _mm512_set1_ps(w[1]), k2 = _mm512_set1_ps(w[2]);
    const __m512 k3 = _mm512_set1_ps(w[3]), k4 = _mm512_set1_ps(w[4]), k5 = _mm512_set1_ps(w[5]);
    const __m512 k6 = _mm512_set1_ps(w[6]), k7 = _mm512_set1_ps(w[7]), k8 = _mm512_set1_ps(w[8]);
    const __m512 bias = _mm512_set1_ps(e->bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    size_t oh = 0;
    for (; oh + 2 <= out_h; oh += 2) {
        const float *r0 = padded + oh * padded_w, *r1 = r0 + padded_w, *r2 = r1 + padded_w, *r3 = r2 + padded_w;
        float *line0 = y + oh * out_w, *line1 = line0 + out_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            __mmask16 mask = lanes(out_w - ow);
            __m512 b0 = _mm512_maskz_loadu_ps(mask, r1 + ow), b1 = _mm512_maskz_loadu_ps(mask, r1 + ow + 1),
                   b2 = _mm512_maskz_loadu_ps(mask, r1 + ow + 2);
            __m512 c0 = _mm512_maskz_loadu_ps(mask, r2 + ow), c1 = _mm512_maskz_loadu_ps(mask, r2 + ow + 1),
                   c2 = _mm512_maskz_loadu_ps(mask, r2 + ow + 2);
            __m512 upper = taps3(_mm512_setzero_ps(), r0 + ow, mask, k0, k1, k2);
            upper = _mm512_fmadd_ps(k3, b0, upper);
            upper = _mm512_fmadd_ps(k4, b1, upper);
            upper = _mm512_fmadd_ps(k5, b2, upper);
            upper = _mm512_fmadd_ps(k6, c0, upper);
            upper = _mm512_fmadd_ps(k7, c1, upper);
            upper = _mm512_fmadd_ps(k8, c2, upper);
            __m512 lower = _mm512_fmadd_ps(k0, b0, _mm512_setzero_ps());
            lower = _mm512_fmadd_ps(k1, b1, lower);
            lower = _mm512_fmadd_ps(k2, b2, lower);
            lower = _mm512_fmadd_ps(k3, c0, lower);
            lower = _mm512_fmadd_ps(k4, c1, lower);
            lower = _mm512_fmadd_ps(k5, c2, lower);
            lower = taps3(lower, r3 + ow, mask, k6, k7, k8);
            _mm512_mask_storeu_ps(line0 + ow, mask, finish(upper, bias, lower_bound, upper_bound));
            _mm512_mask_storeu_ps(line1 + ow, mask, finish(lower, bias, lower_bound, upper_bound));
        }
    }
    if (oh < out_h) {
        const float *r0 = padded + oh * padded_w;
        float *line = y + oh * out_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            __mmask16 mask = lanes(out_w - ow);
            __m512 sum = taps3(_mm512_setzero_ps(), r0 + ow, mask, k0, k1, k2);
            sum = taps3(sum, r0 + padded_w + ow, mask, k3, k4, k5);
            sum = taps3(sum, r0 + 2 * padded_w + ow, mask, k6, k7, k8);
            _mm512_mask_storeu_ps(line + ow, mask, finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

/// 3×3, stride 2, no dilation: each input row is loaded as 32 consecutive floats (plus the 33rd)
/// and split into the even lanes (taps 0 and 2) and odd lanes (tap 1) with permutes.
AVX512 static void depthwise3x3s2_avx512(const float *padded, size_t padded_w, const float *w,
                                         const ck_depthwise_epilogue *e, float *y, size_t out_h, size_t out_w) {
    const __m512 k[9] = {
        _mm512_set1_ps(w[0]), _mm512_set1_ps(w[1]), _mm512_set1_ps(w[2]), _mm512_set1_ps(w[3]), _mm512_set1_ps(w[4]),
        _mm512_set1_ps(w[5]), _mm512_set1_ps(w[6]), _mm512_set1_ps(w[7]), _mm512_set1_ps(w[8]),
    };
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    // Lanes 0–14 of the third tap are elements 2, 4, …, 30; lane 15 (element 32) is inserted after.
    const __m512i shifted = _mm512_set_epi32(0, 30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2);
    const __m512 bias = _mm512_set1_ps(e->bias);
    __m512 lower_bound, upper_bound;
    clamp_bounds(e, &lower_bound, &upper_bound);
    for (size_t oh = 0; oh < out_h; oh++) {
        float *line = y + oh * out_w;
        for (size_t ow = 0; ow < out_w; ow += 16) {
            size_t count = out_w - ow < 16 ? out_w - ow : 16;
            // Output lane i needs elements 2i, 2i+1, 2i+2: 2·count + 1 elements in all.
            size_t needed = 2 * count + 1;
            __mmask16 low = lanes(needed), high = needed <= 16 ? 0 : lanes(needed - 16);
            __m512 sum = _mm512_setzero_ps();
            for (size_t kh = 0; kh < 3; kh++) {
                const float *src = padded + (2 * oh + kh) * padded_w + 2 * ow;
                __m512 a = _mm512_maskz_loadu_ps(low, src), b = _mm512_maskz_loadu_ps(high, src + 16);
                __m512 third = _mm512_permutex2var_ps(a, shifted, b);
                if (needed > 32) third = _mm512_mask_broadcastss_ps(third, 0x8000, _mm_load_ss(src + 32));
                sum = _mm512_fmadd_ps(k[3 * kh], _mm512_permutex2var_ps(a, even, b), sum);
                sum = _mm512_fmadd_ps(k[3 * kh + 1], _mm512_permutex2var_ps(a, odd, b), sum);
                sum = _mm512_fmadd_ps(k[3 * kh + 2], third, sum);
            }
            _mm512_mask_storeu_ps(line + ow, lanes(count), finish(sum, bias, lower_bound, upper_bound));
        }
    }
}

#endif

/// Writes bias + window sum to every output of the plane, with the best kernel for its geometry.
/// Returns 1 when that kernel also applied Relu or Clip (the AVX-512 ones clamp in registers).
static int plane_sums(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                      size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                      const ck_depthwise_epilogue *epilogue, float *y, size_t out_h, size_t out_w) {
#if defined(__x86_64__)
    if (ck_cpu_level() >= CK_LEVEL_AVX512 && (stride_w == 1 || stride_w == 2)) {
        int plain3x3 = kernel_h == 3 && kernel_w == 3 && dilation_h == 1 && dilation_w == 1 && stride_h == stride_w;
        if (plain3x3 && stride_w == 1) {
            depthwise3x3s1_avx512(padded, padded_w, w, epilogue, y, out_h, out_w);
        } else if (plain3x3) {
            depthwise3x3s2_avx512(padded, padded_w, w, epilogue, y, out_h, out_w);
        } else {
            depthwise_generic_avx512(padded, padded_w, w, kernel_h, kernel_w, stride_h, stride_w, dilation_h,
                                     dilation_w, epilogue, y, out_h, out_w);
        }
        return epilogue->activation == CK_ACT_RELU || epilogue->activation == CK_ACT_CLIP;
    }
#endif
    depthwise_portable(padded, padded_w, w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, epilogue,
                       y, out_h, out_w);
    return 0;
}

void ck_depthwise_plane_f32(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                            size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                            const ck_depthwise_epilogue *epilogue, float *y, size_t out_h, size_t out_w) {
    int clamped = plane_sums(padded, padded_w, w, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w,
                             epilogue, y, out_h, out_w);
    // Other functions (and every function after the portable kernel) run once per plane: it is
    // still in cache, and per-row calls would cost more.
    if (epilogue->has_activation && !clamped)
        ck_activation_f32(epilogue->activation, epilogue->a, epilogue->b, y, y, out_h * out_w);
}
