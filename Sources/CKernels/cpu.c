#include "ck_cpu.h"

#include <stdlib.h>
#include <string.h>

static int detected_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CK_LEVEL_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return CK_LEVEL_AVX2;
#endif
    return CK_LEVEL_PORTABLE;
}

static int environment_cap(void) {
    const char *value = getenv("ONNX_RUN_SIMD");
    if (value == NULL) return CK_LEVEL_AVX512;
    if (strcmp(value, "portable") == 0) return CK_LEVEL_PORTABLE;
    if (strcmp(value, "avx2") == 0) return CK_LEVEL_AVX2;
    return CK_LEVEL_AVX512;
}

/// -1 until the first call; then the level in effect. Races on first use write the same value.
static volatile int current_level = -1;

/// The calling thread's cap set by ck_set_cpu_level, or -1 for none.
static _Thread_local int thread_cap = -1;

int ck_cpu_level(void) {
    int level = current_level;
    if (level < 0) {
        int supported = detected_level();
        int cap = environment_cap();
        level = supported < cap ? supported : cap;
        current_level = level;
    }
    int cap = thread_cap;
    return cap >= 0 && cap < level ? cap : level;
}

int ck_set_cpu_level(int level) {
    thread_cap = level < 0 ? 0 : level;
    return ck_cpu_level();
}
