#ifndef DW_OPENMP_H
#define DW_OPENMP_H

/// libdwconv's dwconv_openmp_parallel_for (declared in include/dwconv.h, exported from libdwconv.so): a
/// dwconv_parallel_for over a host's GNU OpenMP runtime, reached only through the function pointers the caller
/// passes (no OpenMP runtime is linked or loaded here). Nothing in this header is for Swift.

#endif
