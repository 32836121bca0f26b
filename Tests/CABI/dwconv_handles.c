/*
 * libdwconv's handle checks from C: a handle used after its destroy, destroyed twice, passed as the other
 * kind, never issued, or NULL is DWCONV_ERROR_INVALID_ARGUMENT with a message, never a crash; a layer
 * destroyed while another thread executes it ends that thread's calls with the same error. CI builds and
 * runs it beside Examples/c (a library without the checks dies of SIGSEGV here):
 *
 *   cc Tests/CABI/dwconv_handles.c $(PKG_CONFIG_PATH=PREFIX/lib/pkgconfig pkg-config --cflags --libs dwconv) -lpthread -o dwconv_handles
 *   ./dwconv_handles
 *
 * Exit status 0 when every check passes.
 */
#include <dwconv.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAILED: " __VA_ARGS__); fputc('\n', stderr); failures++; } } while (0)

enum { C = 4, H = 8, W = 8, K = 3 };
static float weight[C * K * K], input[C * H * W], output[C * H * W];

/* A call refused as a misused handle: the status, and the thread's last error containing `fragment`. */
static void refused(const char *call, dwconv_status status, const char *fragment) {
    CHECK(status == DWCONV_ERROR_INVALID_ARGUMENT, "%s: status %d, expected DWCONV_ERROR_INVALID_ARGUMENT", call, status);
    CHECK(strstr(dwconv_last_error(), fragment) != NULL, "%s: message '%s' lacks '%s'", call, dwconv_last_error(), fragment);
}

static dwconv_layer *new_layer(dwconv_context *ctx) {
    dwconv_layer *layer = NULL;
    dwconv_status st = dwconv_depthwise_create(ctx, C, H, W, K, 1, 1, weight, NULL, DWCONV_LAYOUT_NCHW, &layer);
    CHECK(st == DWCONV_OK && layer != NULL, "depthwise_create: %s", dwconv_last_error());
    return layer;
}

/* Every call on a destroyed layer, and a second destroy. */
static void destroyed_layer(dwconv_layer *layer) {
    int c, h, w;
    refused("execute after destroy", dwconv_layer_execute(layer, 1, input, output, NULL), "already destroyed");
    refused("prepare after destroy", dwconv_layer_prepare(layer, 1), "already destroyed");
    refused("output_size after destroy", dwconv_layer_output_size(layer, &c, &h, &w), "already destroyed");
    CHECK(dwconv_layer_algorithm(layer, 1) == NULL, "algorithm after destroy is not NULL");
    CHECK(dwconv_layer_choice(layer, 1) == NULL, "choice after destroy is not NULL");
    CHECK(dwconv_layer_conversion_seconds(layer) < 0, "conversion_seconds after destroy is not negative");
    CHECK(strstr(dwconv_last_error(), "already destroyed") != NULL, "conversion_seconds after destroy: message '%s'", dwconv_last_error());
    refused("second layer destroy", dwconv_layer_destroy(layer), "already destroyed");
}

/* Each handle passed where the other kind belongs; both still work afterwards. */
static void wrong_kind(dwconv_context *ctx, dwconv_layer *layer) {
    dwconv_layer *made = NULL;
    refused("layer as context (create)", dwconv_depthwise_create((dwconv_context *)layer, C, H, W, K, 1, 1, weight, NULL,
                                                                 DWCONV_LAYOUT_NCHW, &made), "is a layer, not a context");
    CHECK(made == NULL, "layer as context: a layer was returned");
    CHECK(dwconv_context_threads((const dwconv_context *)layer) == 0, "layer as context: threads is not 0");
    refused("layer as context (destroy)", dwconv_context_destroy((dwconv_context *)layer), "is a layer, not a context");
    refused("context as layer (execute)", dwconv_layer_execute((dwconv_layer *)ctx, 1, input, output, NULL), "is a context, not a layer");
    refused("context as layer (destroy)", dwconv_layer_destroy((dwconv_layer *)ctx), "is a context, not a layer");
    CHECK(dwconv_context_threads(ctx) == 1, "the context stopped working after being passed as a layer");
    CHECK(dwconv_layer_execute(layer, 1, input, output, NULL) == DWCONV_OK, "the layer stopped working: %s", dwconv_last_error());
}

/* The executing thread's layer, and how its loop ended: the refusing status and whether its message (this
   thread's last error) says the layer was destroyed. */
struct racer { dwconv_layer *layer; dwconv_status last; int says_destroyed; };

static void *execute_until_refused(void *arg) {
    struct racer *r = arg;
    static float in[C * H * W], out[C * H * W];        /* only this thread writes out */
    while ((r->last = dwconv_layer_execute(r->layer, 1, in, out, NULL)) == DWCONV_OK) {}
    r->says_destroyed = strstr(dwconv_last_error(), "already destroyed") != NULL;
    return NULL;
}

/* A destroy on this thread while another executes the layer in a loop: whatever the interleaving, that
   thread's calls succeed until the destroy and are refused after it (the loop ends only by a refusal). */
static void destroy_while_executing(dwconv_context *ctx) {
    for (int round = 0; round < 20; round++) {
        struct racer r = {new_layer(ctx), DWCONV_OK, 0};
        if (!r.layer) return;
        pthread_t thread;
        if (pthread_create(&thread, NULL, execute_until_refused, &r) != 0) { CHECK(0, "pthread_create"); return; }
        CHECK(dwconv_layer_destroy(r.layer) == DWCONV_OK, "racing destroy: %s", dwconv_last_error());
        pthread_join(thread, NULL);
        CHECK(r.last == DWCONV_ERROR_INVALID_ARGUMENT && r.says_destroyed, "round %d: the executing thread ended with status %d", round, r.last);
    }
}

int main(void) {
    dwconv_context_options options;
    dwconv_context_options_init(&options);
    options.threads = 1;
    options.spin_us = 0;
    dwconv_context *ctx = NULL;
    if (dwconv_context_create(&options, &ctx) != DWCONV_OK) {
        fprintf(stderr, "context: %s\n", dwconv_last_error());
        return 1;
    }
    dwconv_layer *layer = new_layer(ctx);
    CHECK(dwconv_layer_execute(layer, 1, input, output, NULL) == DWCONV_OK, "execute: %s", dwconv_last_error());
    wrong_kind(ctx, layer);

    CHECK(dwconv_layer_destroy(layer) == DWCONV_OK, "layer destroy: %s", dwconv_last_error());
    destroyed_layer(layer);

    /* A value this library never returned, and NULL. */
    float not_a_handle[4];
    refused("foreign pointer as layer", dwconv_layer_execute((dwconv_layer *)not_a_handle, 1, input, output, NULL), "not returned by this library");
    refused("NULL layer", dwconv_layer_execute(NULL, 1, input, output, NULL), "NULL");
    CHECK(dwconv_layer_destroy(NULL) == DWCONV_OK && dwconv_context_destroy(NULL) == DWCONV_OK, "destroying NULL is not ignored");

    destroy_while_executing(ctx);

    /* A layer outlives its context's handle and keeps working; the context handle is gone. */
    dwconv_layer *survivor = new_layer(ctx);
    CHECK(dwconv_context_destroy(ctx) == DWCONV_OK, "context destroy: %s", dwconv_last_error());
    CHECK(dwconv_layer_execute(survivor, 1, input, output, NULL) == DWCONV_OK, "layer after its context's destroy: %s", dwconv_last_error());
    refused("second context destroy", dwconv_context_destroy(ctx), "already destroyed");
    refused("destroyed context as layer", dwconv_layer_destroy((dwconv_layer *)ctx), "is a destroyed context, not a layer");
    CHECK(dwconv_context_threads(ctx) == 0, "threads of a destroyed context is not 0");
    CHECK(dwconv_context_plan_warning(ctx) == NULL && strstr(dwconv_last_error(), "already destroyed"),
          "plan_warning of a destroyed context: message '%s'", dwconv_last_error());
    CHECK(dwconv_layer_destroy(survivor) == DWCONV_OK, "survivor destroy: %s", dwconv_last_error());

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("handle checks: all passed\n");
    return 0;
}
