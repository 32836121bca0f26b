// CPU hints Swift has no intrinsic for.
//
// The spin-wait hint (x86 `pause`), used by the thread pool's idle workers while they wait for the next job.
static inline void dw_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

// A read prefetch of the cache line holding `p` into all cache levels (x86 `prefetcht0`). Used by the
// pointwise GEMM to fetch the next tile's residual while the current tile computes.
static inline void dw_prefetch(const void *p) {
    __builtin_prefetch(p, 0, 3);
}

