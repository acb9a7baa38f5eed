#ifndef CK_DEPTHWISE_H
#define CK_DEPTHWISE_H

#include <stddef.h>

#include "ck_activations.h"

/// What is applied to each output of a depthwise plane after its window sum: the channel's bias,
/// then the activation when `has_activation` is nonzero.
typedef struct {
    float bias;
    int has_activation;
    ck_activation activation;
    float a, b;  ///< the activation's parameters
} ck_depthwise_epilogue;

/// Writes one plane of a 2-D depthwise convolution:
///   y[oh·out_w + ow] = f(bias + Σ_{kh,kw} w[kh·kernel_w + kw] · padded[(oh·stride_h + kh·dilation_h)·padded_w
///                                                                     + ow·stride_w + kw·dilation_w])
/// `padded` is the input plane with its zero padding already in place, at least
/// ((out_h−1)·stride_h + (kernel_h−1)·dilation_h + 1) rows of `padded_w` floats, each row at least
/// (out_w−1)·stride_w + (kernel_w−1)·dilation_w + 1 wide. The window's products are summed first
/// and the bias added to the sum, as the im2col + GEMM path does; f is applied to the plane while
/// it is still in cache.
void ck_depthwise_plane_f32(const float *padded, size_t padded_w, const float *w, size_t kernel_h, size_t kernel_w,
                            size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                            const ck_depthwise_epilogue *epilogue, float *y, size_t out_h, size_t out_w);

#endif
