/*
 * libdwconv from C: a depthwise layer and a fused 1×1 layer on your own data, checked against a plain
 * reference computed here in double, then the error path. Build and run (after `swift build -c release` and
 * `bash Sources/DWConv/install.sh PREFIX`):
 *
 *   cc Examples/c/dwconv_example.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv) -lm -o dwconv_example
 *   ./dwconv_example [plan.json]
 *
 * Exit status 0 when every check passes.
 */
#include <dwconv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAILED: " __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

/* Seeded values in [-1, 1). */
static float next_value(unsigned long long *state) {
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((*state >> 40) / (double)(1ULL << 24)) * 2.0f - 1.0f;
}

static float *random_floats(size_t n, unsigned long long seed) {
    float *v = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) v[i] = next_value(&seed);
    return v;
}

static double relative_error(const float *got, const double *want, size_t n) {
    double diff = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return scale > 0 ? diff / scale : diff;
}

static void depthwise(dwconv_context *ctx) {
    const int n = 2, c = 24, h = 20, w = 17, k = 7, s = 1, p = 3;
    const int oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
    float *x = random_floats((size_t)n * c * h * w, 1), *wt = random_floats((size_t)c * k * k, 2), *b = random_floats(c, 3);
    float *y = calloc((size_t)n * c * oh * ow, sizeof(float));
    double *ref = calloc((size_t)n * c * oh * ow, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = b[ch];
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * s - p + ky, ix = ox * s - p + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
                                acc += (double)x[((i * c + ch) * h + iy) * w + ix] * wt[(ch * k + ky) * k + kx];
                        }
                    ref[((i * c + ch) * oh + oy) * ow + ox] = acc;
                }
    dwconv_layer *layer = NULL;
    dwconv_status st = dwconv_depthwise_create(ctx, c, h, w, k, s, p, wt, b, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_OK, "depthwise_create: %s", dwconv_last_error());
    if (st != DWCONV_OK) return;
    int oc, ohh, oww;
    dwconv_layer_output_size(layer, &oc, &ohh, &oww);
    CHECK(oc == c && ohh == oh && oww == ow, "output size %d×%d×%d", oc, ohh, oww);
    st = dwconv_layer_execute(layer, n, x, y, NULL);
    CHECK(st == DWCONV_OK, "depthwise execute: %s", dwconv_last_error());
    double err = relative_error(y, ref, (size_t)n * c * oh * ow);
    printf("depthwise n%dc%dh%dw%dk%ds%dp%d: %s, chosen by %s; relative error %.1e; layout conversion %.3f ms\n", n, c, h, w, k, s, p,
           dwconv_layer_algorithm(layer, n), dwconv_layer_choice(layer, n), err, dwconv_layer_conversion_seconds(layer) * 1e3);
    CHECK(err <= 1e-4, "depthwise relative error %.2e", err);
    dwconv_layer_destroy(layer);
    free(x); free(wt); free(b); free(y); free(ref);
}

static void pointwise(dwconv_context *ctx) {
    const int n = 1, c = 40, o = 36, h = 9, w = 7, hw = h * w;
    float *x = random_floats((size_t)n * c * hw, 4), *wt = random_floats((size_t)o * c, 5), *b = random_floats(o, 6);
    float *r = random_floats((size_t)n * o * hw, 7), *y = calloc((size_t)n * o * hw, sizeof(float));
    double *ref = calloc((size_t)n * o * hw, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int oc = 0; oc < o; oc++)
            for (int px = 0; px < hw; px++) {
                double acc = b[oc];
                for (int ic = 0; ic < c; ic++) acc += (double)wt[oc * c + ic] * x[(i * c + ic) * hw + px];
                acc = 0.5 * acc * (1 + erf(acc / sqrt(2.0)));
                size_t at = ((size_t)i * o + oc) * hw + px;
                ref[at] = acc + r[at];
            }
    dwconv_layer *layer = NULL;
    dwconv_status st = dwconv_pointwise_create(ctx, c, o, h, w, wt, b, DWCONV_ACTIVATION_GELU, 1, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_OK, "pointwise_create: %s", dwconv_last_error());
    if (st != DWCONV_OK) return;
    st = dwconv_layer_execute(layer, n, x, y, r);
    CHECK(st == DWCONV_OK, "pointwise execute: %s", dwconv_last_error());
    double err = relative_error(y, ref, (size_t)n * o * hw);
    printf("pointwise n%dc%dh%dw%do%d + GELU + residual: %s, chosen by %s; relative error %.1e\n", n, c, h, w, o,
           dwconv_layer_algorithm(layer, n), dwconv_layer_choice(layer, n), err);
    CHECK(err <= 1e-5, "pointwise relative error %.2e", err);
    /* The residual is required: forgetting it is an error, not a wrong answer. */
    st = dwconv_layer_execute(layer, n, x, y, NULL);
    CHECK(st == DWCONV_ERROR_INVALID_ARGUMENT && strstr(dwconv_last_error(), "residual"), "missing residual: status %d, '%s'", st,
          dwconv_last_error());
    dwconv_layer_destroy(layer);
    free(x); free(wt); free(b); free(r); free(y); free(ref);
}

static void errors(dwconv_context *ctx) {
    float weight[9] = {0};
    dwconv_layer *layer = NULL;
    dwconv_status st = dwconv_depthwise_create(ctx, 4, 8, 8, 0, 1, 0, weight, NULL, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_ERROR_INVALID_ARGUMENT && layer == NULL, "kernel 0: status %d", st);
    CHECK(strstr(dwconv_last_error(), "kernel") != NULL, "kernel 0: message '%s'", dwconv_last_error());
    printf("kernel 0 refused: %s\n", dwconv_last_error());
    st = dwconv_depthwise_create(ctx, 4, 8, 8, 3, 1, 1, NULL, NULL, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_ERROR_INVALID_ARGUMENT, "NULL weight: status %d", st);
    st = dwconv_depthwise_create(ctx, 4, 8, 8, 3, 1, 1, weight, NULL, 7, &layer);
    CHECK(st == DWCONV_ERROR_INVALID_ARGUMENT, "bad layout: status %d", st);

    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.plan = "/nonexistent/plan.json";
    options.plan_only = 1;
    dwconv_context *bad = NULL;
    st = dwconv_context_create(&options, &bad);
    CHECK(st == DWCONV_ERROR_PLAN && bad == NULL, "missing plan with plan_only: status %d", st);
    printf("missing plan refused: %s\n", dwconv_last_error());
}

int main(int argc, char **argv) {
    printf("%s, ABI %d (header %d)\n", dwconv_version(), dwconv_abi_version(), DWCONV_ABI_VERSION);
    /* A newer library still serves programs built against an older header (it keeps their entry points). */
    CHECK(dwconv_abi_version() >= DWCONV_ABI_VERSION, "the library is older than this header");
    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.threads = 2;
    options.spin_us = 0;
    if (argc > 1) options.plan = argv[1];
    dwconv_context *ctx = NULL;
    if (dwconv_context_create(&options, &ctx) != DWCONV_OK) {
        fprintf(stderr, "context: %s\n", dwconv_last_error());
        return 1;
    }
    if (dwconv_context_plan_warning(ctx)) printf("plan not used: %s\n", dwconv_context_plan_warning(ctx));
    depthwise(ctx);
    pointwise(ctx);
    errors(ctx);
    dwconv_context_destroy(ctx);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
