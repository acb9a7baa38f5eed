#include "ck_transpose.h"
#include "ck_cpu.h"

#include <stdint.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/// Rows and columns of a tile: 64 × 64 × 4 bytes read and written stay inside L1 and L2.
#define TILE 64

/// Element by element, for tile edges and CPUs without AVX2: dst[c·ld_dst + r] = src[r·ld_src + c].
static void transpose_block_scalar(const uint32_t *src, size_t ld_src, uint32_t *dst, size_t ld_dst,
                                   size_t r0, size_t r1, size_t c0, size_t c1) {
    for (size_t c = c0; c < c1; c++)
        for (size_t r = r0; r < r1; r++) dst[c * ld_dst + r] = src[r * ld_src + c];
}

#if defined(__x86_64__)

/// One 8 × 8 block: rows r..r+7, columns c..c+7, with unpack / shuffle / lane permutes.
__attribute__((target("avx2")))
static inline void transpose8x8(const float *src, size_t ld_src, float *dst, size_t ld_dst, size_t r, size_t c) {
    const float *s = src + r * ld_src + c;
    __m256 r0 = _mm256_loadu_ps(s), r1 = _mm256_loadu_ps(s + ld_src), r2 = _mm256_loadu_ps(s + 2 * ld_src),
           r3 = _mm256_loadu_ps(s + 3 * ld_src), r4 = _mm256_loadu_ps(s + 4 * ld_src), r5 = _mm256_loadu_ps(s + 5 * ld_src),
           r6 = _mm256_loadu_ps(s + 6 * ld_src), r7 = _mm256_loadu_ps(s + 7 * ld_src);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
    __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
    __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
    __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0)), u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0)), u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0)), u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
    __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0)), u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
    float *d = dst + c * ld_dst + r;
    _mm256_storeu_ps(d, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(d + ld_dst, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(d + 2 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(d + 3 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(d + 4 * ld_dst, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(d + 5 * ld_dst, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(d + 6 * ld_dst, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(d + 7 * ld_dst, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/// One tile: whole 8 × 8 blocks in registers, the ragged right and bottom edges element by element.
__attribute__((target("avx2")))
static void transpose_tile_avx2(const uint32_t *src, size_t ld_src, uint32_t *dst, size_t ld_dst,
                                size_t r0, size_t r1, size_t c0, size_t c1) {
    size_t r8 = r0 + (r1 - r0) / 8 * 8, c8 = c0 + (c1 - c0) / 8 * 8;
    for (size_t r = r0; r < r8; r += 8)
        for (size_t c = c0; c < c8; c += 8) transpose8x8((const float *)src, ld_src, (float *)dst, ld_dst, r, c);
    transpose_block_scalar(src, ld_src, dst, ld_dst, r0, r8, c8, c1);
    transpose_block_scalar(src, ld_src, dst, ld_dst, r8, r1, c0, c1);
}

#endif

void ck_transpose_strided_32(const void *src, size_t ld_src, void *dst, size_t ld_dst, size_t rows, size_t cols) {
    const uint32_t *s = (const uint32_t *)src;
    uint32_t *d = (uint32_t *)dst;
#if defined(__x86_64__)
    int vector = ck_cpu_level() >= CK_LEVEL_AVX2;
#endif
    for (size_t r0 = 0; r0 < rows; r0 += TILE) {
        size_t r1 = rows - r0 < TILE ? rows : r0 + TILE;
        for (size_t c0 = 0; c0 < cols; c0 += TILE) {
            size_t c1 = cols - c0 < TILE ? cols : c0 + TILE;
#if defined(__x86_64__)
            if (vector) {
                transpose_tile_avx2(s, ld_src, d, ld_dst, r0, r1, c0, c1);
                continue;
            }
#endif
            transpose_block_scalar(s, ld_src, d, ld_dst, r0, r1, c0, c1);
        }
    }
}

void ck_transpose_32(const void *src, void *dst, size_t rows, size_t cols) {
    ck_transpose_strided_32(src, cols, dst, rows, rows, cols);
}
