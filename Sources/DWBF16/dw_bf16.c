// bf16 micro-kernels: see include/dw_bf16.h. Only functions marked DW_BF16_TARGET use AVX-512 instructions;
// they are reached through dw_bf16_native()'s runtime check.
#include "dw_bf16.h"
#include <cpuid.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define DW_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

int dw_bf16_native(void) {
    // DWBENCH_NO_BF16=1 makes a CPU with the instruction behave as one without it (the refusal and emulation
    // paths are then tested here too; CI runs the bf16 tests both ways).
    const char *off = getenv("DWBENCH_NO_BF16");
    if (off && *off && strcmp(off, "0") != 0) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27))) return 0;                 // OSXSAVE: XGETBV usable
    // XCR0: SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state all saved by the OS.
    if ((read_xcr0() & 0xe6) != 0xe6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(b & (1u << 16)) || !(b & (1u << 30)) || !(b & (1u << 31))) return 0;   // AVX512F, BW, VL
    if (a < 1) return 0;                              // no subleaf 1
    __cpuid_count(7, 1, a, b, c, d);
    return (a & (1u << 5)) != 0;                      // AVX512_BF16
}

DW_BF16_TARGET void dw_bf16_convert(const float *src, uint16_t *dst, size_t count) {
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)v);
    }
    if (i < count) {
        __mmask16 lo = (__mmask16)((count - i) >= 16 ? 0xffff : ((1u << (count - i)) - 1));
        __m256bh v = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(lo, src + i));
        _mm256_mask_storeu_epi16(dst + i, lo, (__m256i)v);
        i += 16;
        if (i < count) {
            __mmask16 hi = (__mmask16)((1u << (count - i)) - 1);
            __m256bh u = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(hi, src + i));
            _mm256_mask_storeu_epi16(dst + i, hi, (__m256i)u);
        }
    }
}

// One tile shape, fully unrolled once A and B are constants (always_inline into each instantiation): A·B zmm
// accumulators, A weight registers, the pixel pairs broadcast from memory (vdpbf16ps's {1to16} operand).
static inline __attribute__((always_inline)) DW_BF16_TARGET void
tile_body(const int A, const int B, const uint16_t *w, const uint16_t *x, ptrdiff_t x_stride, int blocks,
          float *y, ptrdiff_t y_stride, const float *start) {
    __m512 acc[DW_BF16_MAX_VECTORS][DW_BF16_MAX_PIXELS];
    for (int v = 0; v < A; v++) {
        for (int p = 0; p < B; p++)
            acc[v][p] = start ? _mm512_loadu_ps(start + 16 * v) : _mm512_loadu_ps(y + v * y_stride + 16 * p);
    }
    const uint16_t *wp = w, *xp = x;
    for (int blk = 0; blk < blocks; blk++) {
        for (int k = 0; k < 8; k++) {
            __m512bh wv[DW_BF16_MAX_VECTORS];
            for (int v = 0; v < A; v++) wv[v] = (__m512bh)_mm512_loadu_si512((const void *)(wp + 32 * v));
            for (int p = 0; p < B; p++) {
                int32_t pair;
                memcpy(&pair, xp + 16 * p + 2 * k, sizeof pair);
                __m512bh s = (__m512bh)_mm512_set1_epi32(pair);
                for (int v = 0; v < A; v++) acc[v][p] = _mm512_dpbf16_ps(acc[v][p], wv[v], s);
            }
            wp += 32 * A;
        }
        xp += x_stride;
    }
    for (int v = 0; v < A; v++) {
        for (int p = 0; p < B; p++) _mm512_storeu_ps(y + v * y_stride + 16 * p, acc[v][p]);
    }
}

#define DW_TILE(A, B)                                                                                         \
    static DW_BF16_TARGET void tile_##A##x##B(const uint16_t *w, const uint16_t *x, ptrdiff_t xs, int blocks,  \
                                              float *y, ptrdiff_t ys, const float *start) {                   \
        tile_body(A, B, w, x, xs, blocks, y, ys, start);                                                     \
    }
#define DW_TILE_ROW(A) DW_TILE(A, 1) DW_TILE(A, 2) DW_TILE(A, 3) DW_TILE(A, 4) DW_TILE(A, 5) DW_TILE(A, 6)     \
    DW_TILE(A, 7) DW_TILE(A, 8) DW_TILE(A, 9) DW_TILE(A, 10) DW_TILE(A, 11) DW_TILE(A, 12) DW_TILE(A, 13)     \
    DW_TILE(A, 14)
DW_TILE_ROW(1)
DW_TILE_ROW(2)
DW_TILE_ROW(3)
DW_TILE_ROW(4)

typedef void (*tile_fn)(const uint16_t *, const uint16_t *, ptrdiff_t, int, float *, ptrdiff_t, const float *);
#define DW_ROW_PTRS(A) {tile_##A##x1, tile_##A##x2, tile_##A##x3, tile_##A##x4, tile_##A##x5, tile_##A##x6,         \
    tile_##A##x7, tile_##A##x8, tile_##A##x9, tile_##A##x10, tile_##A##x11, tile_##A##x12, tile_##A##x13, tile_##A##x14}
static const tile_fn tiles[DW_BF16_MAX_VECTORS][DW_BF16_MAX_PIXELS] = {
    DW_ROW_PTRS(1), DW_ROW_PTRS(2), DW_ROW_PTRS(3), DW_ROW_PTRS(4)};

void dw_bf16_tile(int vectors, int pixels, const uint16_t *w, const uint16_t *x, ptrdiff_t x_stride, int blocks,
                  float *y, ptrdiff_t y_stride, const float *start) {
    tiles[vectors - 1][pixels - 1](w, x, x_stride, blocks, y, y_stride, start);
}

DW_BF16_TARGET float dw_bf16_peak_probe(long iterations) {
    __m512 acc[24];
    for (int i = 0; i < 24; i++) acc[i] = _mm512_set1_ps((float)i * 1e-3f);
    __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80);   // (1, 1)
    __m512bh b = (__m512bh)_mm512_set1_epi32(0x33d633d6);   // (1e-7, 1e-7): the sums stay finite
    for (long it = 0; it < iterations; it++) {
        for (int i = 0; i < 24; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
        __asm__ volatile("" : "+v"(acc[0]), "+v"(acc[1]), "+v"(acc[2]), "+v"(acc[3]), "+v"(acc[4]), "+v"(acc[5]),
                         "+v"(acc[6]), "+v"(acc[7]), "+v"(acc[8]), "+v"(acc[9]), "+v"(acc[10]), "+v"(acc[11]));
    }
    __m512 s = acc[0];
    for (int i = 1; i < 24; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}
