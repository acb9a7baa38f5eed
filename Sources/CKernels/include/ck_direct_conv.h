#ifndef CK_DIRECT_CONV_H
#define CK_DIRECT_CONV_H

#include <stddef.h>

#include "ck_activations.h"

/// The function applied to every output after the bias, with its parameters.
typedef struct {
    ck_activation kind;
    float a, b;
} ck_direct_conv_activation;

/// Direct 2-D convolution for ungrouped convolutions with a short reduction (few input channels
/// times window taps, e.g. a network's stem or stride-2 downsampling), where im2col's matrix
/// would cost more to write and pack than the product itself. Sixteen output channels are
/// computed at once, sixteen output columns per vector; row strides 1 and 2 are vectorized.
/// AVX-512 only: check `ck_direct_conv_available()`.

/// 1 when this CPU runs the kernel (AVX-512).
int ck_direct_conv_available(void);

/// Floats of the packed weights: output channels rounded up to 16, times in_channels·kernel_h·kernel_w.
size_t ck_direct_conv_packed_count(size_t out_channels, size_t in_channels, size_t kernel_h, size_t kernel_w);

/// Packs W[out][in][kh][kw] into blocks of 16 output channels laid out [in][kh][kw][16],
/// zero-filling the channels past `out_channels`.
void ck_direct_conv_pack(const float *weights, size_t out_channels, size_t in_channels, size_t kernel_h,
                         size_t kernel_w, float *packed);

/// Writes the padded_h × padded_w plane the kernel reads for one height × width input plane:
/// the input at row pad_top, column pad_left, zeros around it (rows and columns past the input,
/// up to the padded size). With `split_columns` (for stride_w 2) each row holds its even
/// columns first, then its odd ones, so that a stride-2 window tap is a contiguous load.
void ck_direct_conv_pad_plane(const float *src, size_t height, size_t width, size_t pad_top, size_t pad_left,
                              size_t padded_h, size_t padded_w, int split_columns, float *dst);

/// Writes f(convolution + `bias`) (bias per output channel, NULL for none; f is `activation`, or
/// the identity when it is NULL) to output rows [row_begin, row_end) of the 16 output channels
/// of `block` (`y` holds one image's out_channels × out_h × out_w outputs), the activation
/// applied in registers before each tile is stored. `padded` is the image's in_channels planes
/// of padded_h × padded_w floats with the zero padding in place, large enough for every window,
/// as `ck_direct_conv_pad_plane` writes them: with stride_w 2 each row's columns split into even
/// and odd ones. stride_w must be 1 or 2.
void ck_direct_conv_rows_f32(const float *padded, size_t in_channels, size_t padded_h, size_t padded_w,
                             const float *packed, size_t block, size_t kernel_h, size_t kernel_w,
                             size_t stride_h, size_t stride_w, size_t dilation_h, size_t dilation_w,
                             const float *bias, const ck_direct_conv_activation *activation,
                             float *y, size_t out_channels, size_t out_h, size_t out_w,
                             size_t row_begin, size_t row_end);

#endif
