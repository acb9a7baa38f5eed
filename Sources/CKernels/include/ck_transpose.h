#ifndef CK_TRANSPOSE_H
#define CK_TRANSPOSE_H

#include <stddef.h>

/// dst[c·rows + r] = src[r·cols + c] for a row-major rows × cols matrix of 32-bit elements, in
/// cache-sized tiles of 8 × 8 blocks transposed in registers (AVX) or element by element.
void ck_transpose_32(const void *src, void *dst, size_t rows, size_t cols);

/// dst[c·ld_dst + r] = src[r·ld_src + c] for r < rows, c < cols: `ck_transpose_32` on a block
/// of a larger matrix, written into a block of another.
void ck_transpose_strided_32(const void *src, size_t ld_src, void *dst, size_t ld_dst, size_t rows, size_t cols);

#endif
