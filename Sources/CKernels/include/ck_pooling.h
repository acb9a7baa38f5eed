#ifndef CK_POOLING_H
#define CK_POOLING_H

#include <stddef.h>

/// The window geometry of 2-D pooling over one H×W plane, as resolved by the caller (ceil_mode
/// and auto_pad already folded into the output sizes and pads). Pads are never negative.
typedef struct {
    size_t in_h, in_w;
    size_t out_h, out_w;
    size_t kernel_h, kernel_w;
    size_t stride_h, stride_w;
    size_t dilation_h, dilation_w;
    size_t pad_top, pad_left, pad_bottom, pad_right;
} ck_pool2d_geometry;

/// Max pooling of `planes` consecutive float planes from `src` (in_h·in_w each) into `dst`
/// (out_h·out_w each). Padding never wins; a window with a NaN gives NaN; a window wholly in the
/// padding gives -infinity.
void ck_max_pool2d_f32(const ck_pool2d_geometry *geometry, const float *src, float *dst, size_t planes);

/// Average pooling, laid out as `ck_max_pool2d_f32`. The sum of the taps inside the input is
/// divided by their number, or with `count_include_pad` by the number of taps inside the input
/// and its explicit padding (not the ceil_mode overhang). A window with no such taps gives 0.
void ck_average_pool2d_f32(const ck_pool2d_geometry *geometry, int count_include_pad,
                           const float *src, float *dst, size_t planes);

/// GlobalMaxPool: dst[p] = the maximum of plane p's `size` values (NaN if any is NaN,
/// -infinity if the plane is empty).
void ck_global_max_pool_f32(const float *src, float *dst, size_t planes, size_t size);

/// GlobalAveragePool: dst[p] = the mean of plane p's `size` values (NaN if the plane is empty).
void ck_global_average_pool_f32(const float *src, float *dst, size_t planes, size_t size);

#endif
