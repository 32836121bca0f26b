// The CPU's spin-wait hint (x86 `pause`), which Swift has no intrinsic for. Used by the thread pool's
// idle workers while they wait for the next job.
static inline void dw_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
