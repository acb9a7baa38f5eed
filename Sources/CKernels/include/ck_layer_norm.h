#ifndef CK_LAYER_NORM_H
#define CK_LAYER_NORM_H

#include <stddef.h>

/// Layer normalization of `rows` rows of `cols` floats from x into y, as the exported
/// decomposition (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add) computes it with
/// this runtime's kernels: mean = float(Σ x / cols) with the sum in double, d = x − mean in float,
/// deviation = sqrt(float(Σ double(d · d) / cols) + ε), then y = d / deviation · γ (+ β when
/// `beta` is not NULL), each step rounded to float. The sums run in eight double lanes at once
/// (the order differs from one running sum only below double precision).
void ck_layer_norm_rows_f32(const float *x, float *y, size_t rows, size_t cols, const float *gamma,
                            const float *beta, float epsilon);

/// Standard LayerNormalization (and RMSNormalization with `rms` nonzero) of `rows` rows of
/// `cols` floats over the last axis: mean = Σ x / cols (0 for RMS) and
/// inverse = 1 / sqrt(Σ (x − mean)² / cols + ε), both in double (stored to means[r] and
/// inverses[r]), then y = (x − float(mean)) · float(inverse) · γ (+ β when `beta` is not NULL)
/// in float. The sums run in eight double lanes at once.
void ck_layer_norm_standard_rows_f32(const float *x, float *y, size_t rows, size_t cols, const float *gamma,
                                     const float *beta, float epsilon, int rms, double *means, double *inverses);

#endif
