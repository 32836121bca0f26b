/*
 * libdwconv's per-axis depthwise geometry from C (dwconv_depthwise_create_2d): rectangular kernels (SLaK's 51×5
 * stripes, InceptionNeXt's 1×11 bands), dilation (LSKNet's 7×7 at 3, mixed 1×2), per-axis stride and padding, odd
 * channel counts and kernels wider than the map, each against a double-precision reference of PyTorch's
 * conv2d(groups=C) in NCHW and NHWC; the square entry point equal bit for bit to the 2-D one with equal axes;
 * invalid geometry refused with DWCONV_ERROR_INVALID_ARGUMENT and a message naming the field. CI runs it:
 *
 *   cc Tests/CABI/dwconv_geometry.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv) -o dwconv_geometry
 *   ./dwconv_geometry
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

typedef struct { int n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw; } geometry;

static int out_size(int size, int pad, int k, int d, int s) { return (size + 2 * pad - d * (k - 1) - 1) / s + 1; }

static float *randoms(size_t count, unsigned *seed) {
    float *v = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        *seed = *seed * 1103515245u + 12345u;
        v[i] = (float)((*seed >> 8) & 0xffff) / 32768.0f - 1.0f;
    }
    return v;
}

/* PyTorch's definition, accumulated in double, NCHW. */
static void reference(const geometry *g, const float *x, const float *wt, const float *b, double *y) {
    int oh = out_size(g->h, g->ph, g->kh, g->dh, g->sh), ow = out_size(g->w, g->pw, g->kw, g->dw, g->sw);
    for (int n = 0; n < g->n; n++)
        for (int c = 0; c < g->c; c++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = b ? b[c] : 0;
                    for (int ky = 0; ky < g->kh; ky++) {
                        int iy = oy * g->sh - g->ph + ky * g->dh;
                        if (iy < 0 || iy >= g->h) continue;
                        for (int kx = 0; kx < g->kw; kx++) {
                            int ix = ox * g->sw - g->pw + kx * g->dw;
                            if (ix < 0 || ix >= g->w) continue;
                            acc += (double)x[((size_t)(n * g->c + c) * g->h + iy) * g->w + ix] * wt[(c * g->kh + ky) * g->kw + kx];
                        }
                    }
                    y[((size_t)(n * g->c + c) * oh + oy) * ow + ox] = acc;
                }
}

static float *to_nhwc(const float *x, int n, int c, int h, int w) {
    float *y = malloc((size_t)n * c * h * w * sizeof(float));
    for (int b = 0; b < n; b++)
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < h * w; p++) y[((size_t)b * h * w + p) * c + ch] = x[((size_t)b * c + ch) * h * w + p];
    return y;
}

static void one(dwconv_context *ctx, const geometry *g, unsigned seed) {
    int oh = out_size(g->h, g->ph, g->kh, g->dh, g->sh), ow = out_size(g->w, g->pw, g->kw, g->dw, g->sw);
    size_t in = (size_t)g->n * g->c * g->h * g->w, out = (size_t)g->n * g->c * oh * ow;
    float *x = randoms(in, &seed), *wt = randoms((size_t)g->c * g->kh * g->kw, &seed), *b = randoms(g->c, &seed);
    double *want = malloc(out * sizeof(double));
    reference(g, x, wt, b, want);
    char label[160];
    snprintf(label, sizeof label, "n%dc%dh%dw%d k%dx%d s%dx%d p%dx%d d%dx%d", g->n, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw,
             g->ph, g->pw, g->dh, g->dw);
    float *nchw_out = malloc(out * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        dwconv_layout layout = pass == 0 ? DWCONV_LAYOUT_NCHW : DWCONV_LAYOUT_NHWC;
        dwconv_layer *layer = NULL;
        dwconv_status st = dwconv_depthwise_create_2d(ctx, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh,
                                                      g->dw, wt, b, layout, &layer);
        CHECK(st == DWCONV_OK && layer, "%s: create_2d: %s", label, dwconv_last_error());
        if (st != DWCONV_OK) continue;
        int c, h, w;
        CHECK(dwconv_layer_output_size(layer, &c, &h, &w) == DWCONV_OK && c == g->c && h == oh && w == ow,
              "%s: output size %d×%d×%d, expected %d×%d×%d", label, c, h, w, g->c, oh, ow);
        float *xin = pass == 0 ? x : to_nhwc(x, g->n, g->c, g->h, g->w);
        float *y = malloc(out * sizeof(float));
        CHECK(dwconv_layer_execute(layer, g->n, xin, y, NULL) == DWCONV_OK, "%s: execute: %s", label, dwconv_last_error());
        if (pass == 0) {
            double diff = 0, scale = 0;
            for (size_t i = 0; i < out; i++) {
                diff = fmax(diff, fabs(y[i] - want[i]));
                scale = fmax(scale, fabs(want[i]));
            }
            /* The loosest bound of any registered algorithm (the FFT's). */
            CHECK(diff <= 1e-4 * scale, "%s: relative error %.2e (algorithm %s)", label, diff / scale, dwconv_layer_algorithm(layer, g->n));
            memcpy(nchw_out, y, out * sizeof(float));
        } else {
            float *t = to_nhwc(nchw_out, g->n, g->c, oh, ow);
            CHECK(memcmp(t, y, out * sizeof(float)) == 0, "%s: NHWC output differs from NCHW's", label);
            free(t);
            free(xin);
        }
        free(y);
        dwconv_layer_destroy(layer);
    }
    free(nchw_out);
    free(x); free(wt); free(b); free(want);
}

/* dwconv_depthwise_create is dwconv_depthwise_create_2d with equal axes and dilation 1, bit for bit. */
static void square_is_2d(dwconv_context *ctx) {
    enum { N = 2, C = 19, H = 23, W = 17, K = 7 };
    unsigned seed = 5;
    float *x = randoms((size_t)N * C * H * W, &seed), *wt = randoms(C * K * K, &seed);
    float *a = malloc(sizeof(float) * N * C * H * W), *b = malloc(sizeof(float) * N * C * H * W);
    dwconv_layer *sq = NULL, *two = NULL;
    CHECK(dwconv_depthwise_create(ctx, C, H, W, K, 1, K / 2, wt, NULL, DWCONV_LAYOUT_NCHW, &sq) == DWCONV_OK, "create: %s", dwconv_last_error());
    CHECK(dwconv_depthwise_create_2d(ctx, C, H, W, K, K, 1, 1, K / 2, K / 2, 1, 1, wt, NULL, DWCONV_LAYOUT_NCHW, &two) == DWCONV_OK,
          "create_2d: %s", dwconv_last_error());
    if (sq && two) {
        dwconv_layer_execute(sq, N, x, a, NULL);
        dwconv_layer_execute(two, N, x, b, NULL);
        CHECK(memcmp(a, b, sizeof(float) * N * C * H * W) == 0, "square and 2-D layers differ");
        CHECK(strcmp(dwconv_layer_algorithm(sq, N), dwconv_layer_algorithm(two, N)) == 0, "square and 2-D layers chose differently");
    }
    dwconv_layer_destroy(sq);
    dwconv_layer_destroy(two);
    free(x); free(wt); free(a); free(b);
}

static void refused(dwconv_context *ctx, const geometry *g, const char *fragment) {
    float wt[64 * 64] = {0};
    dwconv_layer *layer = (dwconv_layer *)1;
    dwconv_status st = dwconv_depthwise_create_2d(ctx, g->c, g->h, g->w, g->kh, g->kw, g->sh, g->sw, g->ph, g->pw, g->dh, g->dw,
                                                  wt, NULL, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_ERROR_INVALID_ARGUMENT, "'%s' case: status %d", fragment, st);
    CHECK(layer == NULL, "'%s' case: a layer was returned", fragment);
    CHECK(strstr(dwconv_last_error(), fragment) != NULL, "'%s' case: message '%s'", fragment, dwconv_last_error());
}

int main(void) {
    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.threads = 2;
    options.spin_us = 0;
    dwconv_context *ctx = NULL;
    CHECK(dwconv_context_create(&options, &ctx) == DWCONV_OK, "context_create: %s", dwconv_last_error());
    if (!ctx) return 1;
    const geometry cases[] = {
        {1, 19, 56, 30, 51, 5, 1, 1, 25, 2, 1, 1},   /* SLaK's stripe, C odd */
        {1, 21, 30, 56, 5, 51, 1, 1, 2, 25, 1, 1},   /* the transposed stripe */
        {2, 12, 14, 14, 1, 11, 1, 1, 0, 5, 1, 1},    /* InceptionNeXt's band on a small map */
        {1, 17, 28, 28, 11, 1, 1, 1, 5, 0, 1, 1},
        {1, 33, 28, 28, 7, 7, 1, 1, 9, 9, 3, 3},     /* LSKNet's dilated 7×7 */
        {2, 18, 9, 30, 3, 13, 2, 2, 1, 6, 1, 2},     /* the mixed example */
        {1, 16, 20, 21, 5, 3, 2, 1, 2, 1, 2, 1},     /* per-axis stride and dilation */
        {1, 9, 6, 40, 13, 9, 1, 2, 6, 0, 1, 1},      /* a kernel taller than the map, no horizontal padding */
        {1, 35, 70, 75, 5, 51, 1, 1, 2, 25, 1, 1},   /* large enough for overlapping FFT tiles */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) one(ctx, &cases[i], 100 + (unsigned)i);
    square_is_2d(ctx);
    const geometry zero_dilation = {1, 4, 8, 8, 3, 3, 1, 1, 1, 1, 0, 1};
    const geometry negative_pad = {1, 4, 8, 8, 3, 3, 1, 1, 1, -1, 1, 1};
    const geometry too_wide = {1, 4, 8, 8, 3, 3, 1, 1, 1, 1, 1, 5};
    const geometry zero_stride = {1, 4, 8, 8, 3, 3, 1, 0, 1, 1, 1, 1};
    refused(ctx, &zero_dilation, "dilation height must be at least 1");
    refused(ctx, &negative_pad, "padding width must not be negative");
    refused(ctx, &too_wide, "padded width 10 is smaller than the kernel's extent 11");
    refused(ctx, &zero_stride, "stride width must be at least 1");
    dwconv_context_destroy(ctx);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("dwconv_geometry: every check passed\n");
    return 0;
}
