// dwconv_openmp_parallel_for: libdwconv's ready-made dwconv_parallel_for over the host's GNU OpenMP runtime (the
// libgomp PyTorch's CPU wheels run their intra-op threads on). The runtime is the caller's, reached through the
// dwconv_openmp it fills from dlsym: this file neither links nor loads an OpenMP runtime, since a second one in
// the process would start a second set of threads.
#include "dwconv.h"

/// One parallel region: what each of its threads needs.
typedef struct dw_openmp_region {
    const dwconv_openmp *omp;
    void (*task)(void *task_arg, size_t index);
    void *task_arg;
    size_t count;
} dw_openmp_region;

/// The body every thread of the region runs: thread t of n takes indices t, t + n, … below count, so each index
/// runs exactly once however many threads the runtime gave the region.
static void dw_openmp_region_body(void *data) {
    const dw_openmp_region *region = data;
    int t = region->omp->omp_get_thread_num(), n = region->omp->omp_get_num_threads();
    if (t < 0 || n < 1) return;   // not a thread of a region: the library runs what is left on the calling thread
    for (size_t i = (size_t)t; i < region->count; i += (size_t)n) region->task(region->task_arg, i);
}

void dwconv_openmp_parallel_for(void *host, void (*task)(void *task_arg, size_t index), void *task_arg, size_t count) {
    if (!task || count == 0) return;
    const dwconv_openmp *omp = host;
    if (count == 1 || !omp || !omp->gomp_parallel || !omp->omp_get_thread_num || !omp->omp_get_num_threads) {
        for (size_t i = 0; i < count; i++) task(task_arg, i);
        return;
    }
    dw_openmp_region region = {omp, task, task_arg, count};
    unsigned threads = count < DWCONV_MAX_THREADS ? (unsigned)count : DWCONV_MAX_THREADS;
    omp->gomp_parallel(dw_openmp_region_body, &region, threads, 0);
}
