// Runtime guard of libdwconv: the kernels are compiled for the build machine's CPU (-target-cpu native), so a
// library copied to a CPU without those instructions must refuse before running any of them. This file is
// compiled with the same native target only to read the compiler's feature macros; it executes nothing but
// CPUID (through __builtin_cpu_supports).
#include "dw_cpu_check.h"
#include <string.h>

static int check(const char *name, int supported, char *missing, size_t size) {
    if (supported) return 0;
    size_t used = strlen(missing);
    if (used + strlen(name) + 2 < size) {
        if (used) strcat(missing, " ");
        strcat(missing, name);
    }
    return 1;
}

int dw_cpu_missing_features(char *missing, size_t size) {
    int n = 0;
    if (size) missing[0] = 0;
    __builtin_cpu_init();
#ifdef __AVX2__
    n += check("avx2", __builtin_cpu_supports("avx2"), missing, size);
#endif
#ifdef __FMA__
    n += check("fma", __builtin_cpu_supports("fma"), missing, size);
#endif
#ifdef __AVX512F__
    n += check("avx512f", __builtin_cpu_supports("avx512f"), missing, size);
#endif
#ifdef __AVX512BW__
    n += check("avx512bw", __builtin_cpu_supports("avx512bw"), missing, size);
#endif
#ifdef __AVX512DQ__
    n += check("avx512dq", __builtin_cpu_supports("avx512dq"), missing, size);
#endif
#ifdef __AVX512VL__
    n += check("avx512vl", __builtin_cpu_supports("avx512vl"), missing, size);
#endif
#ifdef __AVX512BF16__
    n += check("avx512bf16", __builtin_cpu_supports("avx512bf16"), missing, size);
#endif
#ifdef __AVX512VNNI__
    n += check("avx512vnni", __builtin_cpu_supports("avx512vnni"), missing, size);
#endif
    return n;
}
