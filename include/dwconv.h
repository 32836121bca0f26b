/*
 * libdwconv — dwbench's tuned depthwise and 1×1 convolution kernels, behind a C ABI.
 *
 * A context runs its layers on worker threads of its own, or on the host program's threads through the host's
 * parallel-for (options.parallel_for: oneDNN's threadpool interop, XNNPACK's pthreadpool), and optionally holds a
 * tuning plan written by `dwbench tune` (or
 * `dwbench replknet --plan`). A layer is created from its shape and weights (PyTorch's order) and executed
 * at any batch size; for each batch the context's plan chooses the algorithm (a problem the plan lacks
 * gets dwbench's heuristic, or an error with plan_only), and the weights are packed once per batch size.
 *
 * Rules:
 *  - No Swift type crosses this interface: opaque handles, plain structs, status codes. When a call
 *    returns a status other than DWCONV_OK, dwconv_last_error() gives one line saying why; it is
 *    thread-local and valid until the next failing call on the same thread.
 *  - Handles are checked: every function that takes one looks it up in the library's registry of live
 *    handles. NULL (which the destroy functions ignore), a handle already destroyed (use after destroy,
 *    double destroy), a context passed as a layer or a layer as a context, or a value this library never
 *    returned gives DWCONV_ERROR_INVALID_ARGUMENT and dwconv_last_error() says which; a function that
 *    returns a value instead of a status returns the fallback its comment names and sets
 *    dwconv_last_error() the same way.
 *    Handle values are never reused, so a destroyed handle stays detectable for the life of the process.
 *  - Destroying a handle while another thread is inside a call on it is a bug of the caller's, but not a
 *    crash: the registry's lock is held only for the lookup, and the call in flight keeps the object alive
 *    until it returns (it completes normally); calls that start after the destroy fail as above.
 *  - What cannot be checked: the length of a buffer. weight must hold exactly the floats its comment names,
 *    bias one per output channel, and input, output and residual batch × the layer's tensor in its layout;
 *    a shorter buffer is read or written past its end (undefined behaviour, not an error status).
 *  - Contexts are independent: several may be used from several threads at once. One context runs one
 *    layer at a time (calls on the same context from two threads are serialised).
 *  - Tensors are float32, contiguous. NCHW is (N, C, H, W); NHWC is (N, H, W, C) (PyTorch's channels_last memory
 *    of an (N, C, H, W) tensor); NCHW16c is (N, ⌈C/16⌉, H, W, 16) with the padding channels zero. With
 *    DWCONV_LAYOUT_NCHW or DWCONV_LAYOUT_NHWC, a layer whose algorithm works in NCHW16c converts on the way in and
 *    out, and dwconv_layer_conversion_seconds() reports what that cost (the 1×1 GEMMs read and write NHWC
 *    directly: no conversion). The layout never changes the result: a layer's output is bit for bit the same in
 *    every layout.
 *  - The library is built for the build machine's CPU; on a CPU without those instructions
 *    dwconv_context_create() fails with DWCONV_ERROR_UNSUPPORTED instead of executing them.
 */
#ifndef DWCONV_H
#define DWCONV_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped on any incompatible change of this header. Version 2 added the host's parallel-for to the context
   options; a program built against version 1 keeps working (the library still exports the version-1 entry points
   dwconv_context_options_init and dwconv_context_create with the version-1 options struct; this header maps those
   names to the _v2 ones, so a program compiled against it uses the new struct). */
#define DWCONV_ABI_VERSION 2

/* The most threads a context runs a layer on (its own or the host's). */
#define DWCONV_MAX_THREADS 256

typedef struct dwconv_context dwconv_context;
typedef struct dwconv_layer dwconv_layer;

typedef enum dwconv_status {
    DWCONV_OK = 0,
    /* A null pointer, a non-positive size, weights of the wrong length, a bad option. */
    DWCONV_ERROR_INVALID_ARGUMENT = 1,
    /* No algorithm computes this problem (or this CPU lacks the instructions the library was built for). */
    DWCONV_ERROR_UNSUPPORTED = 2,
    /* The plan file is unreadable or invalid, foreign with plan_only, or lacks a problem with plan_only. */
    DWCONV_ERROR_PLAN = 3,
    /* The tensors would not fit in this machine's memory. */
    DWCONV_ERROR_OUT_OF_MEMORY = 4
} dwconv_status;

typedef enum dwconv_layout {
    DWCONV_LAYOUT_NCHW = 0,
    DWCONV_LAYOUT_NCHW16C = 1,
    /* Channels innermost, (N, H, W, C): PyTorch's torch.channels_last. Added in version 2 (additive). */
    DWCONV_LAYOUT_NHWC = 2
} dwconv_layout;

/* The arithmetic of a 1×1 layer (dwconv_pointwise_create_precision). Tensors are float32 at the interface either
   way. Added in version 2 (additive). */
typedef enum dwconv_precision {
    /* float32 throughout (what dwconv_pointwise_create gives). */
    DWCONV_PRECISION_FP32 = 0,
    /* Input and weights rounded to bfloat16 inside the layer (round to nearest even), products summed in float32;
       bias, activation and residual in float32. Needs a CPU with AVX512_BF16 (dwconv_precision_supported). */
    DWCONV_PRECISION_BF16 = 1
} dwconv_precision;

/* The element type of the tensors passed to dwconv_layer_execute_dtype (the layer's arithmetic is its precision's
   either way). Added in version 2 (additive). */
typedef enum dwconv_dtype {
    DWCONV_DTYPE_FLOAT32 = 0,
    /* bfloat16 (the top 16 bits of a float32), as PyTorch's torch.bfloat16: read by exact widening, the float32 result
       (after bias, activation and residual) rounded once to nearest even. On any CPU; with DWCONV_LAYOUT_NHWC the
       1×1 layers and the layout conversions read and write it in place, other layouts go through float32 copies. */
    DWCONV_DTYPE_BFLOAT16 = 1
} dwconv_dtype;

typedef enum dwconv_activation {
    DWCONV_ACTIVATION_NONE = 0,
    DWCONV_ACTIVATION_RELU = 1,
    /* Exact GELU, x·Φ(x) (PyTorch's approximate='none'). */
    DWCONV_ACTIVATION_GELU = 2
} dwconv_activation;

/* The host's parallel-for: runs task(task_arg, i) once for every i in [0, count), on up to host_threads of the
   host's threads at once, and returns when all have returned. Tasks may run in any order and on any threads,
   the calling one included; each index must run exactly once. A host that runs fewer indices makes the call
   slower, never wrong (the library runs what is left on the calling thread). */
typedef void (*dwconv_parallel_for)(void *host, void (*task)(void *task_arg, size_t index), void *task_arg, size_t count);

/* The entry points of a host's GNU OpenMP runtime (libgomp, as inside PyTorch's CPU wheels, whose intra-op
   threads are that runtime's), for dwconv_openmp_parallel_for. The caller fills it with the addresses dlsym gives
   for GOMP_parallel, omp_get_thread_num and omp_get_num_threads in the runtime its process already runs; the
   library never loads or links an OpenMP runtime itself (a second one would start threads of its own).
   Added in version 2 (additive). */
typedef struct dwconv_openmp {
    void (*gomp_parallel)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
    int (*omp_get_thread_num)(void);
    int (*omp_get_num_threads)(void);
} dwconv_openmp;

typedef struct dwconv_context_options {
    /* Threads that execute a layer, the caller's included; 0: every online core. Ignored with parallel_for. */
    int threads;
    /* How long idle workers spin before they sleep, microseconds. 0 sleeps at once (the right choice
       inside a host with its own threads, such as PyTorch); negative: the default, 2000. */
    int spin_us;
    /* A plan file, or NULL for dwbench's heuristic. A plan from another machine, build or thread count is
       ignored with a warning (dwconv_context_plan_warning), or is an error with plan_only. */
    const char *plan;
    /* Nonzero: a foreign plan, or a problem the plan lacks, is an error instead of a fallback. */
    int plan_only;
    /* NULL (the default): the context starts threads - 1 workers of its own. Otherwise every task of every layer
       runs through this function and the context starts no thread: the outputs are bit for bit those of the
       library's own pool with the same thread count. */
    dwconv_parallel_for parallel_for;
    /* Passed back to parallel_for as its first argument. */
    void *parallel_for_host;
    /* With parallel_for: how many threads the host runs tasks on at once (1 to DWCONV_MAX_THREADS; the plan is
       chosen for this count and each gets its own workspace). */
    int host_threads;
} dwconv_context_options;

/* A ready-made dwconv_parallel_for over a host's GNU OpenMP runtime: host points to a dwconv_openmp filled by the
   caller (it must outlive every context using it). It opens one parallel region, gomp_parallel(fn, data,
   min(count, DWCONV_MAX_THREADS), 0), in which the thread numbered t of the n the runtime gave runs the indices
   t, t + n, t + 2n, … below count; count 1 runs on the calling thread without a region. Pass it as
   options.parallel_for with options.parallel_for_host = the struct and options.host_threads = the threads to use.
   A NULL host or function pointer runs every index on the calling thread. Added in version 2 (additive). */
void dwconv_openmp_parallel_for(void *host, void (*task)(void *task_arg, size_t index), void *task_arg, size_t count);

/* 1 when layers of this precision can be created on this CPU, 0 otherwise (DWCONV_PRECISION_BF16 needs
   AVX512_BF16, and is reported unsupported when the environment sets DWBENCH_NO_BF16). Added in version 2. */
int dwconv_precision_supported(dwconv_precision precision);

/* "dwconv <package version> (<build signature>)". */
const char *dwconv_version(void);
/* DWCONV_ABI_VERSION of the library that is loaded. */
int dwconv_abi_version(void);
/* Why the last failing call on this thread failed (empty if none has). */
const char *dwconv_last_error(void);

/* Default options: all cores, default spin, no plan, the library's own threads. */
void dwconv_context_options_init_v2(dwconv_context_options *options);
dwconv_status dwconv_context_create_v2(const dwconv_context_options *options, dwconv_context **context);
#define dwconv_context_options_init dwconv_context_options_init_v2
#define dwconv_context_create dwconv_context_create_v2
/* Ends the context handle. Its workers end with it, or, when layers made on it are still alive, with the
   last of them (those layers keep working). NULL is ignored (DWCONV_OK). */
dwconv_status dwconv_context_destroy(dwconv_context *context);
/* The context's thread count; 0 for an invalid handle. */
int dwconv_context_threads(const dwconv_context *context);
/* Why the plan is not used (another machine, build or thread count), or NULL: when the plan applies, when
   there is none, and for an invalid handle (dwconv_context_threads tells the last apart: it returns 0).
   Valid while the context lives. */
const char *dwconv_context_plan_warning(const dwconv_context *context);

/* A depthwise convolution, PyTorch's conv2d(groups=channels) with dilation 1 and zero padding:
   weight is (channels, 1, kernel, kernel); bias (channels) or NULL. The weights are copied. */
dwconv_status dwconv_depthwise_create(dwconv_context *context, int channels, int height, int width, int kernel,
                                      int stride, int padding, const float *weight, const float *bias,
                                      dwconv_layout layout, dwconv_layer **layer);

/* A depthwise convolution with per-axis geometry, PyTorch's conv2d(groups=channels, stride=(stride_h, stride_w),
   padding=(pad_h, pad_w), dilation=(dilation_h, dilation_w)): weight is (channels, 1, kernel_h, kernel_w); bias
   (channels) or NULL; pad_h zero rows above and below the map, pad_w zero columns left and right. The weights are
   copied. dwconv_depthwise_create(…, kernel, stride, padding, …) is this function with both axes equal and
   dilation 1. (PyTorch's padding='same' with an even total, d·(k − 1) odd, pads one more row or column at the
   bottom or right: pad the input by that one yourself and pass the smaller half here.) */
dwconv_status dwconv_depthwise_create_2d(dwconv_context *context, int channels, int height, int width, int kernel_h,
                                         int kernel_w, int stride_h, int stride_w, int pad_h, int pad_w,
                                         int dilation_h, int dilation_w, const float *weight, const float *bias,
                                         dwconv_layout layout, dwconv_layer **layer);

/* A 1×1 convolution with its fused epilogue: y = activation(W·x + bias) (+ residual when residual != 0).
   weight is (out_channels, in_channels, 1, 1); bias (out_channels) or NULL. The weights are copied. */
dwconv_status dwconv_pointwise_create(dwconv_context *context, int in_channels, int out_channels, int height,
                                      int width, const float *weight, const float *bias,
                                      dwconv_activation activation, int residual, dwconv_layout layout,
                                      dwconv_layer **layer);

/* dwconv_pointwise_create at a chosen precision. DWCONV_PRECISION_FP32 is dwconv_pointwise_create;
   DWCONV_PRECISION_BF16 runs a bf16 GEMM (dwconv_layer_algorithm names it, gemm-bf16.*) on float32 tensors, and
   on a CPU where dwconv_precision_supported(DWCONV_PRECISION_BF16) is 0 fails with DWCONV_ERROR_UNSUPPORTED.
   Its outputs differ from float32's by the bf16 rounding of the operands (a relative error of about 2⁻⁸ per
   product). Added in version 2 (additive). */
dwconv_status dwconv_pointwise_create_precision(dwconv_context *context, int in_channels, int out_channels, int height,
                                                int width, const float *weight, const float *bias,
                                                dwconv_activation activation, int residual, dwconv_layout layout,
                                                dwconv_precision precision, dwconv_layer **layer);

/* Output channels, height and width (any pointer may be NULL). */
dwconv_status dwconv_layer_output_size(const dwconv_layer *layer, int *channels, int *height, int *width);

/* Chooses the algorithm for this batch size and packs the weights (execute does it on first use). */
dwconv_status dwconv_layer_prepare(dwconv_layer *layer, int batch);

/* Runs the layer on batch images: input and output in the layer's layout; residual (the output's shape)
   only for a pointwise layer created with residual != 0, NULL otherwise. */
dwconv_status dwconv_layer_execute(dwconv_layer *layer, int batch, const float *input, float *output,
                                   const float *residual);

/* dwconv_layer_execute with tensors of element type dtype (input, output and residual alike, in the layer's
   layout). DWCONV_DTYPE_FLOAT32 is dwconv_layer_execute. Added in version 2 (additive). */
dwconv_status dwconv_layer_execute_dtype(dwconv_layer *layer, int batch, dwconv_dtype dtype, const void *input, void *output,
                                         const void *residual);

/* The registry name of the algorithm chosen for this batch size, and where the choice came from
   ("plan (measure, margin 12%)", "heuristic (not in the plan)", …); NULL before it was prepared, and for
   an invalid handle (dwconv_layer_output_size tells them apart: it returns a status). Valid while the layer
   lives. */
const char *dwconv_layer_algorithm(const dwconv_layer *layer, int batch);
const char *dwconv_layer_choice(const dwconv_layer *layer, int batch);

/* Seconds the last execute spent converting between the caller's layout and the algorithm's (0 when
   they agree); negative for an invalid handle. */
double dwconv_layer_conversion_seconds(const dwconv_layer *layer);

/* Frees the layer (after a call in flight on it returns). NULL is ignored (DWCONV_OK). */
dwconv_status dwconv_layer_destroy(dwconv_layer *layer);

#ifdef __cplusplus
}
#endif

#endif /* DWCONV_H */
