#include "ck_softmax.h"
#include "ck_activations.h"
#include "ck_cpu.h"
#include "exp_avx512.h"

#include <math.h>

/// Score j after the scale and the mask.
static inline float prepared(float x, size_t j, const ck_softmax_row *row) {
    if (row->scale_mode == 1) x *= row->scale;
    else if (row->scale_mode == 2) x /= row->scale;
    if (row->addend) x += row->addend[j * row->addend_step];
    if (row->keep && !row->keep[j * row->keep_step]) x = row->fill;
    return x;
}

static void softmax_portable(float *s, size_t n, const ck_softmax_row *row) {
    float maximum = -INFINITY;
    int nan = 0;
    for (size_t j = 0; j < n; j++) {
        float x = prepared(s[j], j, row);
        s[j] = x;
        if (x != x) nan = 1;
        else if (x > maximum) maximum = x;
    }
    if (nan) maximum = NAN;
    for (size_t j = 0; j < n; j++) s[j] -= maximum;
    ck_activation_f32(CK_ACT_EXP, 0, 0, s, s, n);
    float sum = 0;
    for (size_t j = 0; j < n; j++) sum += s[j];
    float factor = 1 / sum;
    for (size_t j = 0; j < n; j++) s[j] *= factor;
}

#if defined(__x86_64__)
#include <immintrin.h>

/// The same passes with 16 lanes: prepare and find the maximum, exponentiate and sum, scale.
__attribute__((target("avx512f,avx512dq,avx2,fma")))
static void softmax_avx512(float *s, size_t n, const ck_softmax_row *row) {
    const __m512 scale = _mm512_set1_ps(row->scale), fill = _mm512_set1_ps(row->fill);
    // Addends with unit steps are read as vectors; other addends and the keep flags element by element.
    const int vector_addend = row->addend && row->addend_step == 1;
    __m512 maximum = _mm512_set1_ps(-INFINITY);
    __mmask16 nan = 0;
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 lanes = n - j >= 16 ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 x = _mm512_maskz_loadu_ps(lanes, s + j);
        if (row->scale_mode == 1) x = _mm512_mul_ps(x, scale);
        else if (row->scale_mode == 2) x = _mm512_div_ps(x, scale);
        if (vector_addend) {
            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(lanes, row->addend + j));
        } else if (row->addend) {
            float values[16] = {0};
            for (size_t i = 0; i < 16 && j + i < n; i++) values[i] = row->addend[(j + i) * row->addend_step];
            x = _mm512_add_ps(x, _mm512_loadu_ps(values));
        }
        if (row->keep) {
            __mmask16 dropped = 0;
            for (size_t i = 0; i < 16 && j + i < n; i++)
                if (!row->keep[(j + i) * row->keep_step]) dropped |= (__mmask16)(1u << i);
            x = _mm512_mask_mov_ps(x, dropped, fill);
        }
        _mm512_mask_storeu_ps(s + j, lanes, x);
        nan |= _mm512_mask_cmp_ps_mask(lanes, x, x, _CMP_UNORD_Q);
        maximum = _mm512_mask_max_ps(maximum, lanes, maximum, x);
    }
    float top = nan ? NAN : _mm512_reduce_max_ps(maximum);
    const __m512 vtop = _mm512_set1_ps(top);
    __m512 sum = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 lanes = n - j >= 16 ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, s + j), vtop));
        e = _mm512_maskz_mov_ps(lanes, e);
        _mm512_mask_storeu_ps(s + j, lanes, e);
        sum = _mm512_add_ps(sum, e);
    }
    const __m512 factor = _mm512_set1_ps(1 / _mm512_reduce_add_ps(sum));
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 lanes = n - j >= 16 ? 0xFFFF : (__mmask16)((1u << (n - j)) - 1);
        _mm512_mask_storeu_ps(s + j, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, s + j), factor));
    }
}

#endif

void ck_softmax_row_f32(float *s, size_t n, const ck_softmax_row *row) {
    if (n == 0) return;
#if defined(__x86_64__)
    if (ck_cpu_level() >= CK_LEVEL_AVX512) {
        softmax_avx512(s, n, row);
        return;
    }
#endif
    softmax_portable(s, n, row);
}
