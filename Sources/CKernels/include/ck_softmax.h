#ifndef CK_SOFTMAX_H
#define CK_SOFTMAX_H

#include <stdbool.h>
#include <stddef.h>

/// How a score row is prepared before its softmax (attention's scale and mask).
typedef struct {
    /// 0: no scale; 1: multiply by `scale`; 2: divide by `scale`.
    int scale_mode;
    float scale;
    /// Added to score j as addend[j·addend_step] (NULL for none).
    const float *addend;
    size_t addend_step;
    /// Score j becomes `fill` where keep[j·keep_step] is false (NULL for none).
    const bool *keep;
    size_t keep_step;
    float fill;
} ck_softmax_row;

/// s[j] ← softmax over j < n of the prepared scores (scale, then addend or keep/fill):
/// e^(x_j − max) / Σ e^(x_k − max), computed with SIMD (the AVX-512 exp that Sigmoid and SiLU use, which
/// keeps fully masked scores' underflow in the vector instead of glibc's scalar slow path).
/// A NaN score makes the whole row NaN, as the definition does.
void ck_softmax_row_f32(float *s, size_t n, const ck_softmax_row *row);

#endif
