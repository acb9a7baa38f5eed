#ifndef CK_DEPTHWISE_H
#define CK_DEPTHWISE_H

#include <stddef.h>

#include "ck_activations.h"

/// What is applied to each output of a depthwise plane after its window sum: the channel's bias
/// (per channel; NULL for none), then the activation when `has_activation` is nonzero.
typedef struct {
    const float *bias;
    int has_activation;
    ck_activation activation;
    float a, b;  ///< the activation's parameters
} ck_depthwise_epilogue;

/// The geometry of one depthwise plane: the input plane's size, the zero padding before its first
/// row and column (padding after the last ones is implied by the output size), the window and the
/// output plane's size.
typedef struct {
    size_t height, width;
    size_t pad_top, pad_left;
    size_t kernel_h, kernel_w;
    size_t stride_h, stride_w;
    size_t dilation_h, dilation_w;
    size_t out_h, out_w;
} ck_depthwise_geometry;

/// Writes planes [plane_begin, plane_end) of a 2-D depthwise convolution, reading the input planes
/// in place. Plane p (batch entry n · channels + channel) is channel c = p mod `channels`, written
/// to y + p·out_h·out_w and read from x + (n·channels + s)·height·width, where s = c, or with
/// `shuffle_groups` g > 1 (a channel shuffle folded into the convolution: the input viewed as
/// [g, channels/g] channels, transposed) s = (c mod g)·(channels/g) + c / g:
///   y(oh, ow) = f(bias[c] + Σ_{kh,kw} w[(c·kernel_h + kh)·kernel_w + kw] · x(oh·stride_h + kh·dilation_h − pad_top,
///                                                                        ow·stride_w + kw·dilation_w − pad_left))
/// where x(r, col) is 0 outside the plane (the padding). Padding taps are multiplied like the
/// others (by zeros, never read from memory), and the window's products are summed first and the
/// bias added to the sum, as the im2col + GEMM path does; f is applied to each plane while it is
/// still in cache.
void ck_depthwise_f32(const float *x, const ck_depthwise_geometry *geometry, const float *w, size_t channels,
                      size_t shuffle_groups, const ck_depthwise_epilogue *epilogue, size_t plane_begin,
                      size_t plane_end, float *y);

#endif
