#include "ck_direct_conv.h"
#include "ck_activations.h"
#include "ck_cpu.h"
#include "activation_avx512.h"

#include <stddef.h>
#include <string.h>

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

/// dst[i] = line[first + i·step] where that column lies in [0, width), else 0, for i < count
/// (`first` may be negative: the left padding); step is 1 or 2.
static void gather_columns(const float *line, size_t width, ptrdiff_t first, size_t step, size_t count, float *dst) {
    const ptrdiff_t s = (ptrdiff_t)step, n = (ptrdiff_t)count, w = (ptrdiff_t)width;
    // Outputs [begin, end) read the line; those before and after are padding.
    ptrdiff_t begin = first < 0 ? (-first + s - 1) / s : 0;
    ptrdiff_t end = w > first ? (w - first + s - 1) / s : 0;
    begin = begin < n ? begin : n;
    end = end < n ? end : n;
    end = end > begin ? end : begin;
    for (ptrdiff_t i = 0; i < begin; i++) dst[i] = 0;
    if (step == 1) {
        memcpy(dst + begin, line + (first + begin), (size_t)(end - begin) * sizeof(float));
    } else {
        for (ptrdiff_t i = begin; i < end; i++) dst[i] = line[first + 2 * i];
    }
    for (ptrdiff_t i = end; i < n; i++) dst[i] = 0;
}

void ck_direct_conv_pad_plane(const float *src, size_t height, size_t width, size_t pad_top, size_t pad_left,
                              size_t padded_h, size_t padded_w, int split_columns, float *dst) {
    const size_t evens = (padded_w + 1) / 2;
    for (size_t r = 0; r < padded_h; r++) {
        float *line = dst + r * padded_w;
        if (r < pad_top || r - pad_top >= height) {
            for (size_t col = 0; col < padded_w; col++) line[col] = 0;
        } else if (split_columns) {
            const float *row = src + (r - pad_top) * width;
            gather_columns(row, width, -(ptrdiff_t)pad_left, 2, evens, line);
            gather_columns(row, width, 1 - (ptrdiff_t)pad_left, 2, padded_w - evens, line + evens);
        } else {
            gather_columns(src + (r - pad_top) * width, width, -(ptrdiff_t)pad_left, 1, padded_w, line);
        }
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
                        const float *bias, const ck_direct_conv_activation *activation, __m512 va, __m512 vb,
                        float *y, size_t plane, size_t channels) {
    __m512 acc[16];
#pragma clang loop unroll(full)
    for (int o = 0; o < 16; o++) acc[o] = _mm512_setzero_ps();
    const __mmask16 mask = lanes(count);
    // With stride 2 each padded row holds its even columns, then its odd ones: column 2·ow + t
    // is at (t odd ? evens : 0) + ow + t/2, so every tap is one contiguous load.
    const size_t evens = (padded_w + 1) / 2;
    const float *w = weights;
    for (size_t c = 0; c < in_channels; c++) {
        for (size_t kh = 0; kh < kernel_h; kh++) {
            const float *row = padded + (c * padded_h + top + kh * dilation_h) * padded_w;
            for (size_t kw = 0; kw < kernel_w; kw++, w += 16) {
                const size_t t = kw * dilation_w;
                const float *src = stride_w == 1 ? row + left + t : row + (t % 2 ? evens : 0) + left / 2 + t / 2;
                const __m512 v = _mm512_maskz_loadu_ps(mask, src);
#pragma clang loop unroll(full)
                for (int o = 0; o < 16; o++) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o]), v, acc[o]);
            }
        }
    }
    // Constant indices only (the test inside the unrolled loop), so acc stays in registers.
#pragma clang loop unroll(full)
    for (int o = 0; o < 16; o++)
        if (bias && (size_t)o < channels) acc[o] = _mm512_add_ps(acc[o], _mm512_set1_ps(bias[o]));
    // The activation with one switch for the tile (see activation_avx512_registers); the kinds
    // that call libmvec one vector at a time.
    if (activation && !activation_avx512_registers(activation->kind, va, vb, acc, 16, 1, 1)) {
#pragma clang loop unroll(full)
        for (int o = 0; o < 16; o++) acc[o] = activation_avx512_one(activation->kind, va, vb, acc[o]);
    }
#pragma clang loop unroll(full)
    for (int o = 0; o < 16; o++)
        if ((size_t)o < channels) _mm512_mask_storeu_ps(y + o * plane, mask, acc[o]);
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
    // The activation is applied in registers, before each tile is stored.
    const __m512 va = _mm512_set1_ps(activation ? activation->a : 0), vb = _mm512_set1_ps(activation ? activation->b : 0);
    for (size_t oh = row_begin; oh < row_end; oh++) {
        for (size_t ow = 0; ow < out_w; ow += 16) {
            size_t count = out_w - ow < 16 ? out_w - ow : 16;
            tile(padded, in_channels, padded_h, padded_w, weights, kernel_h, kernel_w, stride_w, dilation_h,
                 dilation_w, oh * stride_h, ow * stride_w, count, bias ? bias + first : NULL, activation, va, vb,
                 y + first * plane + oh * out_w + ow, plane, channels);
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
