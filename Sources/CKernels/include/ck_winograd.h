#ifndef CK_WINOGRAD_H
#define CK_WINOGRAD_H

#include "ck_activations.h"

/// Winograd F(4×4, 3×3) convolution transforms (stride 1, dilation 1): each 4×4 output tile is
/// computed from a 6×6 input tile as Aᵀ·[(G·g·Gᵀ) ⊙ (Bᵀ·d·B)]·A, which turns the convolution into
/// 36 independent matrix products M[ξ] = U[ξ]·V[ξ], one per tile element ξ = 6·row + column.
///
/// Tiles are numbered across the batch: tile t is image t / (tiles_h·tiles_w), tile row
/// (t mod tiles_h·tiles_w) / tiles_w and tile column t mod tiles_w. Input is NCHW, output NKHW.

/// Number of tile elements ξ (6×6).
enum { CK_WINOGRAD_ELEMENTS = 36 };

/// Sizes of one convolution.
typedef struct {
    long channels;       ///< input channels C
    long out_channels;   ///< output channels K
    long height, width;  ///< input plane (height·width + padding must fit in 31 bits)
    long out_height, out_width;
    long pad_top, pad_left;
    long tiles_h, tiles_w;  ///< tiles per image: ⌈out_height / 4⌉, ⌈out_width / 4⌉
} ck_winograd_shape;

/// What the output transform adds to each value: bias[k] (when not NULL), then the activation
/// (when has_activation is nonzero).
typedef struct {
    const float *bias;
    int has_activation;
    ck_activation activation;
    float a, b;  ///< the activation's parameters
} ck_winograd_epilogue;

/// Floats between the ξ slices of V or M (rows × ld each): rows·ld rounded up to an odd number of
/// 64-byte lines, so that the 36 slices of a tile fall into different cache sets.
long ck_winograd_slice_stride(long rows, long ld);

/// U[ξ][k][c] = (G·g[k][c]·Gᵀ)[ξ] for 3×3 weights g[K][C][3][3]; u receives 36·K·C floats.
void ck_winograd_f43_weights(const float *g, long out_channels, long channels, float *u);

/// The transforms run at SIMD level `level` (a CK_LEVEL_*, lowered to ck_cpu_level() when above
/// it): callers pass ck_cpu_level(), tests every level without changing the process-wide one.

/// Input transform of channels [c0, c1) for tiles [first_tile, first_tile + count):
/// V[ξ][c][b] = (Bᵀ·d·B)[ξ] is written to v[ξ·slice + c·ldv + b], b = t − first_tile, where
/// slice = ck_winograd_slice_stride(channels, ldv).
/// Padding reads as zero.
void ck_winograd_f43_input(const ck_winograd_shape *s, const float *x, long first_tile, long count,
                           long c0, long c1, float *v, long ldv, int level);

/// Output transform of output channels [k0, k1) for tiles [first_tile, first_tile + count): reads
/// M[ξ][k][b] at m[ξ·ck_winograd_slice_stride(out_channels, ldm) + k·ldm + b] and writes the parts of the 4×4 tiles that lie
/// inside the output, after the epilogue.
void ck_winograd_f43_output(const ck_winograd_shape *s, const float *m, long ldm, long first_tile,
                            long count, long k0, long k1, const ck_winograd_epilogue *e, float *y, int level);

#endif
