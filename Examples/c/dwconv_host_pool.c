/*
 * libdwconv on the host program's own threads: a small pthread pool stands in for a framework's thread pool
 * (oneDNN's threadpool interop, XNNPACK's pthreadpool), and the library runs every task of every layer through
 * its parallel-for instead of starting threads of its own. Checks, for 2 and 3 host threads:
 *  - the context starts no thread (the process's thread count before and after);
 *  - a depthwise and a fused 1×1 layer, NCHW (so the layout conversions run as tasks too) and NCHW16c, give
 *    outputs bit for bit equal to a context with the library's own pool of the same thread count;
 *  - the host's pool really ran the tasks (how many of its threads took part depends on how fast they wake, so it
 *    is printed, not checked);
 *  - host_threads out of range is refused with one line.
 * Build and run (after `swift build -c release` and `bash Sources/DWConv/install.sh PREFIX`):
 *
 *   cc Examples/c/dwconv_host_pool.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv) -lpthread -o dwconv_host_pool
 *   ./dwconv_host_pool
 *
 * Exit status 0 when every check passes.
 */
#include <dwconv.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAILED: " __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

/* ---- the host's pool: fixed workers, one job at a time, the caller takes part ---- */

typedef struct host_pool {
    pthread_mutex_t lock;
    pthread_cond_t start, done;
    pthread_t *workers;
    int nworkers;
    /* The current job. */
    void (*task)(void *, size_t);
    void *task_arg;
    size_t count, next, finished;
    unsigned long generation;
    int stopping;
    /* Tasks each thread ran (index nworkers: the calling thread), to show the work was spread. */
    size_t *ran;
} host_pool;

/* Takes indices until none are left; `who` counts them. */
static void host_run(host_pool *pool, int who) {
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        if (pool->next >= pool->count) { pthread_mutex_unlock(&pool->lock); return; }
        size_t i = pool->next++;
        void (*task)(void *, size_t) = pool->task;
        void *arg = pool->task_arg;
        pthread_mutex_unlock(&pool->lock);
        task(arg, i);
        pthread_mutex_lock(&pool->lock);
        pool->ran[who]++;
        if (++pool->finished == pool->count) pthread_cond_broadcast(&pool->done);
        pthread_mutex_unlock(&pool->lock);
    }
}

typedef struct { host_pool *pool; int index; } worker_arg;

static void *host_worker(void *p) {
    worker_arg *w = p;
    host_pool *pool = w->pool;
    unsigned long seen = 0;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->generation == seen && !pool->stopping) pthread_cond_wait(&pool->start, &pool->lock);
        if (pool->stopping) { pthread_mutex_unlock(&pool->lock); free(w); return NULL; }
        seen = pool->generation;
        pthread_mutex_unlock(&pool->lock);
        host_run(pool, w->index);
    }
}

/* dwconv_parallel_for: publish the job, take part, wait until every index has finished. */
static void host_parallel_for(void *host, void (*task)(void *, size_t), void *task_arg, size_t count) {
    host_pool *pool = host;
    pthread_mutex_lock(&pool->lock);
    pool->task = task;
    pool->task_arg = task_arg;
    pool->count = count;
    pool->next = 0;
    pool->finished = 0;
    pool->generation++;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    host_run(pool, pool->nworkers);
    pthread_mutex_lock(&pool->lock);
    while (pool->finished < pool->count) pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

/* threads: the caller plus threads − 1 workers. */
static host_pool *host_pool_create(int threads) {
    host_pool *pool = calloc(1, sizeof *pool);
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->start, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->nworkers = threads - 1;
    pool->workers = calloc((size_t)threads, sizeof(pthread_t));
    pool->ran = calloc((size_t)threads, sizeof(size_t));
    for (int i = 0; i < pool->nworkers; i++) {
        worker_arg *w = malloc(sizeof *w);
        w->pool = pool;
        w->index = i;
        pthread_create(&pool->workers[i], NULL, host_worker, w);
    }
    return pool;
}

static void host_pool_destroy(host_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    pool->stopping = 1;
    pthread_cond_broadcast(&pool->start);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->nworkers; i++) pthread_join(pool->workers[i], NULL);
    free(pool->workers);
    free(pool->ran);
    free(pool);
}

/* ---- checks ---- */

/* Threads of this process (entries of /proc/self/task). */
static int process_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static float *random_floats(size_t n, unsigned long long seed) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((seed >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
    }
    return v;
}

/* One layer of each kind on `ctx`, outputs appended to `out` (depthwise NCHW and NCHW16c, then 1×1 NCHW). */
static size_t run_layers(dwconv_context *ctx, float *out) {
    size_t written = 0;
    const int n = 2, c = 40, h = 23, w = 19, k = 13, o = 36;
    float *x = random_floats((size_t)n * c * h * w, 11), *dw = random_floats((size_t)c * k * k, 12), *db = random_floats(c, 13);
    float *pw = random_floats((size_t)o * c, 14), *pb = random_floats(o, 15), *r = random_floats((size_t)n * o * h * w, 16);
    for (int layout = 0; layout < 2; layout++) {
        dwconv_layer *layer = NULL;
        if (dwconv_depthwise_create(ctx, c, h, w, k, 1, k / 2, dw, db, (dwconv_layout)layout, &layer) != DWCONV_OK) {
            CHECK(0, "depthwise layer: %s", dwconv_last_error());
            continue;
        }
        /* NCHW16c: (n, ⌈c/16⌉, h, w, 16) floats in and out; the input's padding lanes are zero here. */
        size_t count = layout == 0 ? (size_t)n * c * h * w : (size_t)n * ((c + 15) / 16) * h * w * 16;
        float *in = calloc(count, sizeof(float));
        const int blocks = (c + 15) / 16;
        for (int i = 0; i < n; i++)
            for (int ch = 0; ch < c; ch++)
                for (int px = 0; px < h * w; px++)
                    in[layout == 0 ? ((size_t)i * c + ch) * h * w + px : (((size_t)i * blocks + ch / 16) * h * w + px) * 16 + ch % 16] =
                        x[((size_t)i * c + ch) * h * w + px];
        CHECK(dwconv_layer_execute(layer, n, in, out + written, NULL) == DWCONV_OK, "depthwise execute: %s", dwconv_last_error());
        written += count;
        free(in);
        dwconv_layer_destroy(layer);
    }
    dwconv_layer *layer = NULL;
    if (dwconv_pointwise_create(ctx, c, o, h, w, pw, pb, DWCONV_ACTIVATION_GELU, 1, DWCONV_LAYOUT_NCHW, &layer) == DWCONV_OK) {
        CHECK(dwconv_layer_execute(layer, n, x, out + written, r) == DWCONV_OK, "pointwise execute: %s", dwconv_last_error());
        written += (size_t)n * o * h * w;
        dwconv_layer_destroy(layer);
    } else {
        CHECK(0, "pointwise layer: %s", dwconv_last_error());
    }
    free(x); free(dw); free(db); free(pw); free(pb); free(r);
    return written;
}

int main(void) {
    const size_t capacity = 1 << 20;
    for (int threads = 2; threads <= 3; threads++) {
        /* The library's own pool. */
        dwconv_context_options options;
        dwconv_context_options_init(&options);
        options.threads = threads;
        options.spin_us = 0;
        dwconv_context *own = NULL;
        if (dwconv_context_create(&options, &own) != DWCONV_OK) { fprintf(stderr, "context: %s\n", dwconv_last_error()); return 1; }
        float *expected = calloc(capacity, sizeof(float));
        size_t n = run_layers(own, expected);
        dwconv_context_destroy(own);

        /* The host's pool: the library must start no thread. */
        host_pool *pool = host_pool_create(threads);
        int before = process_threads();
        dwconv_context_options_init(&options);
        options.parallel_for = host_parallel_for;
        options.parallel_for_host = pool;
        options.host_threads = threads;
        dwconv_context *hosted = NULL;
        if (dwconv_context_create(&options, &hosted) != DWCONV_OK) { fprintf(stderr, "hosted context: %s\n", dwconv_last_error()); return 1; }
        CHECK(dwconv_context_threads(hosted) == threads, "hosted context reports %d threads, not %d", dwconv_context_threads(hosted), threads);
        float *got = calloc(capacity, sizeof(float));
        size_t m = run_layers(hosted, got);
        int after = process_threads();
        CHECK(before > 0 && after == before, "the hosted context started threads: %d before, %d after", before, after);
        CHECK(m == n && memcmp(expected, got, n * sizeof(float)) == 0,
              "%d host threads: outputs differ from the library's own %d-thread pool", threads, threads);
        int busy = 0;
        size_t total = 0;
        for (int i = 0; i <= pool->nworkers; i++) { busy += pool->ran[i] > 0; total += pool->ran[i]; }
        CHECK(total > 0, "%d host threads: the host's parallel-for was never called", threads);
        printf("%d host threads: %zu outputs bit for bit equal to the library's pool; %zu tasks on %d host threads; threads %d before, %d after\n",
               threads, n, total, busy, before, after);
        dwconv_context_destroy(hosted);
        host_pool_destroy(pool);
        free(expected);
        free(got);
    }
    /* host_threads must say how many threads the host runs tasks on. */
    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.parallel_for = host_parallel_for;
    options.host_threads = 0;
    dwconv_context *bad = NULL;
    CHECK(dwconv_context_create(&options, &bad) == DWCONV_ERROR_INVALID_ARGUMENT && bad == NULL, "host_threads 0 was accepted");
    CHECK(strstr(dwconv_last_error(), "host_threads") != NULL, "the refusal does not name host_threads: %s", dwconv_last_error());
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
