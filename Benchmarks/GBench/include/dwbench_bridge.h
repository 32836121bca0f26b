// C interface of the dwbench kernels for the Google Benchmark harness; implemented in Swift
// (Benchmarks/Bridge/Bridge.swift, @_cdecl).
#ifndef DWBENCH_BRIDGE_H
#define DWBENCH_BRIDGE_H

#ifdef __cplusplus
extern "C" {
#endif

int dw_algorithm_count(void);
void dw_algorithm_name(int index, char *buffer, int capacity);
// 1 when the algorithm's kind (depthwise or pointwise) is the problem's, so the pair is worth registering.
int dw_algorithm_solves(int index, const char *problem);

void *dw_case_create(int algorithm, const char *problem, int threads, char *reason, int capacity);
void dw_case_run(void *handle);
double dw_case_flops(void *handle);
double dw_case_bytes(void *handle);
void dw_case_destroy(void *handle);

void *dw_shapes_open(const char *path, char *error, int capacity);
int dw_shapes_count(void *handle);
void dw_shapes_entry(void *handle, int index, char *name, char *problem, int capacity);
void dw_shapes_close(void *handle);

#ifdef __cplusplus
}
#endif

#endif
