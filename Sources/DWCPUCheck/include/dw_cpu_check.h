#ifndef DW_CPU_CHECK_H
#define DW_CPU_CHECK_H
#include <stddef.h>

/* Writes the space-separated instruction-set extensions this build was compiled to use (from the
   compiler's target macros, the same -march=native as the Swift targets) that the running CPU lacks, and
   returns how many there are. 0: safe to run the kernels. */
int dw_cpu_missing_features(char *missing, size_t size);

#endif
