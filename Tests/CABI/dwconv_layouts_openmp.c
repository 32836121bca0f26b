/*
 * libdwconv's additive version-2 features from C:
 *  - DWCONV_LAYOUT_NHWC: a depthwise and a 1×1 layer (with residual, channels not a multiple of 16) give outputs bit
 *    for bit equal to the same layers in NCHW, transposed;
 *  - dwconv_openmp_parallel_for over a stand-in GNU OpenMP runtime (gomp_parallel emulated with pthreads: a team of
 *    num_threads, the caller thread 0): every index runs exactly once, a team smaller than asked still covers them
 *    all, and a context on it gives the own pool's bits;
 *  - dwconv_pointwise_create_precision: an invalid precision is refused; bf16 matches dwconv_precision_supported;
 *  - dwconv_layer_execute_dtype with DWCONV_DTYPE_BFLOAT16, NCHW and NHWC: each output is the float32 path's on the
 *    widened inputs, rounded to nearest even, bit for bit; an invalid dtype is refused.
 * CI builds and runs it beside the other CABI tests:
 *
 *   cc Tests/CABI/dwconv_layouts_openmp.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv) -lpthread -o dwconv_layouts_openmp
 *   ./dwconv_layouts_openmp
 *
 * Exit status 0 when every check passes.
 */
#include <dwconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAILED: " __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

static float *randoms(size_t count, unsigned *seed) {
    float *a = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) a[i] = (float)rand_r(seed) / RAND_MAX * 2.0f - 1.0f;
    return a;
}

/* (n, c, h, w) NCHW → NHWC. */
static float *to_nhwc(const float *x, int n, int c, int h, int w) {
    float *y = malloc((size_t)n * c * h * w * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < h * w; p++) y[((size_t)b * h * w + p) * c + ch] = x[((size_t)b * c + ch) * h * w + p];
    return y;
}

/* ---- a stand-in GNU OpenMP runtime: GOMP_parallel's contract with pthreads ---- */

static __thread int team_id = 0, team_size = 1;
static unsigned team_limit = 0;   /* nonzero: give a team at most this many threads (as a runtime may) */

typedef struct member { void (*fn)(void *); void *data; int id, size; } member;

static void *member_main(void *arg) {
    member *m = arg;
    team_id = m->id;
    team_size = m->size;
    m->fn(m->data);
    return NULL;
}

static void fake_gomp_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags) {
    (void)flags;
    int size = (int)num_threads;
    if (team_limit && (unsigned)size > team_limit) size = (int)team_limit;
    pthread_t threads[DWCONV_MAX_THREADS];
    member members[DWCONV_MAX_THREADS];
    for (int i = 1; i < size; i++) {
        members[i] = (member){fn, data, i, size};
        pthread_create(&threads[i], NULL, member_main, &members[i]);
    }
    int saved_id = team_id, saved_size = team_size;
    team_id = 0;
    team_size = size;
    fn(data);
    team_id = saved_id;
    team_size = saved_size;
    for (int i = 1; i < size; i++) pthread_join(threads[i], NULL);
}

static int fake_thread_num(void) { return team_id; }
static int fake_num_threads(void) { return team_size; }

static int ran[1000];
static pthread_mutex_t ran_lock = PTHREAD_MUTEX_INITIALIZER;

static void count_task(void *arg, size_t index) {
    (void)arg;
    pthread_mutex_lock(&ran_lock);
    ran[index]++;
    pthread_mutex_unlock(&ran_lock);
}

static void openmp_indices(dwconv_openmp *omp) {
    size_t counts[] = {1, 2, 3, 7, 1000};
    unsigned limits[] = {0, 2};
    for (int l = 0; l < 2; l++) {
        team_limit = limits[l];
        for (int k = 0; k < 5; k++) {
            memset(ran, 0, sizeof ran);
            dwconv_openmp_parallel_for(omp, count_task, NULL, counts[k]);
            int once = 1;
            for (size_t i = 0; i < counts[k]; i++) once &= ran[i] == 1;
            CHECK(once, "openmp_parallel_for(count %zu, team limit %u): an index did not run exactly once", counts[k], limits[l]);
        }
    }
    team_limit = 0;
    memset(ran, 0, sizeof ran);
    dwconv_openmp_parallel_for(NULL, count_task, NULL, 5);
    CHECK(ran[0] == 1 && ran[4] == 1, "openmp_parallel_for with a NULL host did not run the indices on the caller");
}

/* ---- layers ---- */

enum { N = 2, C = 21, O = 37, H = 9, W = 11, K = 7 };

/* One depthwise and one fused 1×1 layer on `ctx` in `layout`; outputs (in that layout) into dw_out, pw_out. */
static void run_layers(dwconv_context *ctx, dwconv_layout layout, const float *x, const float *dw, const float *db, const float *pw,
                       const float *pb, const float *res, float *dw_out, float *pw_out) {
    dwconv_layer *a = NULL, *b = NULL;
    CHECK(dwconv_depthwise_create(ctx, C, H, W, K, 1, K / 2, dw, db, layout, &a) == DWCONV_OK, "depthwise_create: %s", dwconv_last_error());
    CHECK(dwconv_pointwise_create(ctx, C, O, H, W, pw, pb, DWCONV_ACTIVATION_GELU, 1, layout, &b) == DWCONV_OK,
          "pointwise_create: %s", dwconv_last_error());
    if (!a || !b) return;
    CHECK(dwconv_layer_execute(a, N, x, dw_out, NULL) == DWCONV_OK, "depthwise execute: %s", dwconv_last_error());
    CHECK(dwconv_layer_execute(b, N, dw_out, pw_out, res) == DWCONV_OK, "pointwise execute: %s", dwconv_last_error());
    if (layout == DWCONV_LAYOUT_NHWC) {
        const char *name = dwconv_layer_algorithm(b, N);
        if (name && strncmp(name, "gemm-", 5) == 0)
            CHECK(dwconv_layer_conversion_seconds(b) == 0, "NHWC 1×1 layer on %s converted (%g s)", name, dwconv_layer_conversion_seconds(b));
    }
    dwconv_layer_destroy(a);
    dwconv_layer_destroy(b);
}

/* float → bf16, round to nearest even (the test's values are finite and normal). */
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static uint16_t *bf16_of(const float *x, size_t count) {
    uint16_t *h = malloc(count * sizeof(uint16_t));
    for (size_t i = 0; i < count; i++) h[i] = to_bf16(x[i]);
    return h;
}
static float *widened(const uint16_t *h, size_t count) {
    float *f = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) f[i] = from_bf16(h[i]);
    return f;
}

/* The depthwise and 1×1 layers of run_layers on bf16 tensors (execute_dtype), against float32 execution on the
   widened tensors with the output rounded: equal bit for bit. */
static void bf16_tensors(dwconv_context *ctx, dwconv_layout layout, const float *x, const float *dw, const float *db, const float *pw,
                         const float *pb, const float *res) {
    size_t in = (size_t)N * C * H * W, out = (size_t)N * O * H * W;
    dwconv_layer *a = NULL, *b = NULL;
    CHECK(dwconv_depthwise_create(ctx, C, H, W, K, 1, K / 2, dw, db, layout, &a) == DWCONV_OK, "depthwise_create: %s", dwconv_last_error());
    CHECK(dwconv_pointwise_create(ctx, C, O, H, W, pw, pb, DWCONV_ACTIVATION_GELU, 1, layout, &b) == DWCONV_OK,
          "pointwise_create: %s", dwconv_last_error());
    if (!a || !b) return;
    uint16_t *xh = bf16_of(x, in), *rh = bf16_of(res, out), *dwh = malloc(in * 2), *pwh = malloc(out * 2);
    float *xw = widened(xh, in), *rw = widened(rh, out), *dwf = malloc(in * 4), *pwf = malloc(out * 4);
    CHECK(dwconv_layer_execute_dtype(a, N, DWCONV_DTYPE_BFLOAT16, xh, dwh, NULL) == DWCONV_OK, "bf16 depthwise: %s", dwconv_last_error());
    CHECK(dwconv_layer_execute(a, N, xw, dwf, NULL) == DWCONV_OK, "fp32 depthwise: %s", dwconv_last_error());
    int same = 1;
    for (size_t i = 0; i < in; i++) same &= dwh[i] == to_bf16(dwf[i]);
    CHECK(same, "bf16 depthwise (layout %d) differs from the float32 path rounded", layout);
    float *dww = widened(dwh, in);
    CHECK(dwconv_layer_execute_dtype(b, N, DWCONV_DTYPE_BFLOAT16, dwh, pwh, rh) == DWCONV_OK, "bf16 pointwise: %s", dwconv_last_error());
    CHECK(dwconv_layer_execute(b, N, dww, pwf, rw) == DWCONV_OK, "fp32 pointwise: %s", dwconv_last_error());
    same = 1;
    for (size_t i = 0; i < out; i++) same &= pwh[i] == to_bf16(pwf[i]);
    CHECK(same, "bf16 pointwise (layout %d) differs from the float32 path rounded", layout);
    CHECK(dwconv_layer_execute_dtype(b, N, (dwconv_dtype)7, dwh, pwh, rh) == DWCONV_ERROR_INVALID_ARGUMENT, "dtype 7 was not refused");
    CHECK(dwconv_layer_execute_dtype(b, N, DWCONV_DTYPE_FLOAT32, dww, pwf, rw) == DWCONV_OK, "execute_dtype float32: %s", dwconv_last_error());
    free(xh); free(rh); free(dwh); free(pwh); free(xw); free(rw); free(dwf); free(pwf); free(dww);
    dwconv_layer_destroy(a);
    dwconv_layer_destroy(b);
}

int main(void) {
    unsigned seed = 11;
    size_t in = (size_t)N * C * H * W, out = (size_t)N * O * H * W;
    float *x = randoms(in, &seed), *dw = randoms(C * K * K, &seed), *db = randoms(C, &seed);
    float *pw = randoms((size_t)O * C, &seed), *pb = randoms(O, &seed), *res = randoms(out, &seed);
    float *dw_nchw = malloc(in * sizeof(float)), *pw_nchw = malloc(out * sizeof(float));
    float *dw_nhwc = malloc(in * sizeof(float)), *pw_nhwc = malloc(out * sizeof(float));
    float *dw_omp = malloc(in * sizeof(float)), *pw_omp = malloc(out * sizeof(float));
    float *x_nhwc = to_nhwc(x, N, C, H, W), *res_nhwc = to_nhwc(res, N, O, H, W);

    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.threads = 2;
    options.spin_us = 0;
    dwconv_context *own = NULL;
    CHECK(dwconv_context_create(&options, &own) == DWCONV_OK, "context_create: %s", dwconv_last_error());

    /* NHWC against NCHW, transposed. */
    run_layers(own, DWCONV_LAYOUT_NCHW, x, dw, db, pw, pb, res, dw_nchw, pw_nchw);
    run_layers(own, DWCONV_LAYOUT_NHWC, x_nhwc, dw, db, pw, pb, res_nhwc, dw_nhwc, pw_nhwc);
    float *want_dw = to_nhwc(dw_nchw, N, C, H, W), *want_pw = to_nhwc(pw_nchw, N, O, H, W);
    CHECK(memcmp(dw_nhwc, want_dw, in * sizeof(float)) == 0, "depthwise: NHWC output differs from NCHW's");
    CHECK(memcmp(pw_nhwc, want_pw, out * sizeof(float)) == 0, "pointwise: NHWC output differs from NCHW's");

    /* bf16 tensors at the interface. */
    bf16_tensors(own, DWCONV_LAYOUT_NCHW, x, dw, db, pw, pb, res);
    bf16_tensors(own, DWCONV_LAYOUT_NHWC, x_nhwc, dw, db, pw, pb, res_nhwc);

    /* The OpenMP parallel-for on a stand-in runtime. */
    dwconv_openmp omp = {fake_gomp_parallel, fake_thread_num, fake_num_threads};
    openmp_indices(&omp);
    dwconv_context_options host;
    dwconv_context_options_init(&host);
    host.parallel_for = dwconv_openmp_parallel_for;
    host.parallel_for_host = &omp;
    host.host_threads = 2;
    dwconv_context *on_omp = NULL;
    CHECK(dwconv_context_create(&host, &on_omp) == DWCONV_OK, "context_create on OpenMP: %s", dwconv_last_error());
    run_layers(on_omp, DWCONV_LAYOUT_NCHW, x, dw, db, pw, pb, res, dw_omp, pw_omp);
    CHECK(memcmp(dw_omp, dw_nchw, in * sizeof(float)) == 0 && memcmp(pw_omp, pw_nchw, out * sizeof(float)) == 0,
          "layers on the OpenMP parallel-for differ from the own pool's");

    /* Precision. */
    dwconv_layer *layer = NULL;
    CHECK(dwconv_pointwise_create_precision(own, C, O, H, W, pw, pb, DWCONV_ACTIVATION_NONE, 0, DWCONV_LAYOUT_NCHW,
                                            (dwconv_precision)7, &layer) == DWCONV_ERROR_INVALID_ARGUMENT && layer == NULL,
          "precision 7 was not refused");
    dwconv_status st = dwconv_pointwise_create_precision(own, C, O, H, W, pw, pb, DWCONV_ACTIVATION_NONE, 0, DWCONV_LAYOUT_NHWC,
                                                         DWCONV_PRECISION_BF16, &layer);
    if (dwconv_precision_supported(DWCONV_PRECISION_BF16)) {
        CHECK(st == DWCONV_OK, "bf16 layer: %s", dwconv_last_error());
        CHECK(dwconv_layer_prepare(layer, 1) == DWCONV_OK && strncmp(dwconv_layer_algorithm(layer, 1), "gemm-bf16", 9) == 0,
              "bf16 layer runs %s", dwconv_layer_algorithm(layer, 1));
    } else {
        CHECK(st == DWCONV_ERROR_UNSUPPORTED && strstr(dwconv_last_error(), "avx512_bf16"), "bf16 without the CPU's support: %d %s",
              st, dwconv_last_error());
    }
    CHECK(dwconv_precision_supported(DWCONV_PRECISION_FP32) == 1, "fp32 is not supported");
    dwconv_layer_destroy(layer);
    dwconv_context_destroy(on_omp);
    dwconv_context_destroy(own);
    if (failures == 0) printf("dwconv_layouts_openmp: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
