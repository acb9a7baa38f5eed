#ifndef CK_CPU_H
#define CK_CPU_H

/// SIMD levels the C kernels are written for. Every kernel has a portable C version, and may have
/// AVX2+FMA and AVX-512F versions compiled with `__attribute__((target(...)))`.
enum {
    CK_LEVEL_PORTABLE = 0,
    CK_LEVEL_AVX2 = 1,
    CK_LEVEL_AVX512 = 2,
};

/// The highest level this CPU supports, capped by `ck_set_cpu_level` (and by the environment
/// variable ONNX_RUN_SIMD=portable|avx2|avx512 when it is set at the first call).
int ck_cpu_level(void);

/// Caps the level the kernels use on the calling thread (tests use it to exercise every version
/// while other tests run models on other threads; work a pool worker takes on is not capped);
/// returns the level in effect afterwards, which never exceeds what the CPU supports.
int ck_set_cpu_level(int level);

#endif
