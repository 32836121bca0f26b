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

int dw_bf16_disabled(void) {
    const char *off = getenv("DWBENCH_NO_BF16");
    return off && *off && strcmp(off, "0") != 0;
}

int dw_avx512bw_native(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & (1u << 27))) return 0;                 // OSXSAVE: XGETBV usable
    // XCR0: SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state all saved by the OS.
    if ((read_xcr0() & 0xe6) != 0xe6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & (1u << 16)) && (b & (1u << 30)) && (b & (1u << 31));   // AVX512F, BW, VL
}

int dw_bf16_native(void) {
    // DWBENCH_NO_BF16=1 makes a CPU with the instruction behave as one without it (the refusal and emulation
    // paths are then tested here too; CI runs the bf16 tests both ways).
    if (dw_bf16_disabled() || !dw_avx512bw_native()) return 0;
    unsigned a, b, c, d;
    __cpuid_count(7, 0, a, b, c, d);
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
tile_body(const int A, const int B, const uint16_t *w, const uint16_t *x, ptrdiff_t x_pixel, ptrdiff_t x_stride, int blocks,
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
                memcpy(&pair, xp + x_pixel * p + 2 * k, sizeof pair);
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
    static DW_BF16_TARGET void tile_##A##x##B(const uint16_t *w, const uint16_t *x, ptrdiff_t xp, ptrdiff_t xs, \
                                              int blocks, float *y, ptrdiff_t ys, const float *start) {       \
        tile_body(A, B, w, x, xp, xs, blocks, y, ys, start);                                                 \
    }
#define DW_TILE_ROW(A) DW_TILE(A, 1) DW_TILE(A, 2) DW_TILE(A, 3) DW_TILE(A, 4) DW_TILE(A, 5) DW_TILE(A, 6)     \
    DW_TILE(A, 7) DW_TILE(A, 8) DW_TILE(A, 9) DW_TILE(A, 10) DW_TILE(A, 11) DW_TILE(A, 12) DW_TILE(A, 13)     \
    DW_TILE(A, 14)
DW_TILE_ROW(1)
DW_TILE_ROW(2)
DW_TILE_ROW(3)
DW_TILE_ROW(4)

typedef void (*tile_fn)(const uint16_t *, const uint16_t *, ptrdiff_t, ptrdiff_t, int, float *, ptrdiff_t, const float *);
#define DW_ROW_PTRS(A) {tile_##A##x1, tile_##A##x2, tile_##A##x3, tile_##A##x4, tile_##A##x5, tile_##A##x6,         \
    tile_##A##x7, tile_##A##x8, tile_##A##x9, tile_##A##x10, tile_##A##x11, tile_##A##x12, tile_##A##x13, tile_##A##x14}
static const tile_fn tiles[DW_BF16_MAX_VECTORS][DW_BF16_MAX_PIXELS] = {
    DW_ROW_PTRS(1), DW_ROW_PTRS(2), DW_ROW_PTRS(3), DW_ROW_PTRS(4)};

void dw_bf16_tile(int vectors, int pixels, const uint16_t *w, const uint16_t *x, ptrdiff_t x_pixel, ptrdiff_t x_stride,
                  int blocks, float *y, ptrdiff_t y_stride, const float *start) {
    tiles[vectors - 1][pixels - 1](w, x, x_pixel, x_stride, blocks, y, y_stride, start);
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

// ---- bf16 tensors at the interface (AVX512F/BW only: no bf16 instruction needed) ----

#define DW_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

// 16 bf16 → 16 floats (exact).
static inline __attribute__((always_inline)) DW_AVX512_TARGET __m512 widen16(const uint16_t *p, __mmask16 m) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}

// 16 floats → 16 bf16 with dw_bf16_convert's rounding (vcvtneps2bf16's, in integer AVX-512F operations so that CPUs
// without AVX512_BF16 give the same bits): NaN quieted, denormals to signed zero, otherwise nearest even.
static inline __attribute__((always_inline)) DW_AVX512_TARGET __m256i round16(__m512 v) {
    __m512i bits = _mm512_castps_si512(v);
    __m512i hi = _mm512_srli_epi32(bits, 16);
    __m512i nearest = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), _mm512_and_si512(hi, _mm512_set1_epi32(1))), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __mmask16 zero_exp = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x7f800000));
    nearest = _mm512_mask_mov_epi32(nearest, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
    nearest = _mm512_mask_mov_epi32(nearest, zero_exp, _mm512_and_si512(hi, _mm512_set1_epi32(0x8000)));
    return _mm512_cvtepi32_epi16(nearest);
}

static inline __mmask16 lanes_mask(long lanes) { return lanes >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << lanes) - 1); }

DW_AVX512_TARGET void dw_bf16_widen(const uint16_t *src, float *dst, size_t count) {
    for (size_t i = 0; i < count; i += 16) _mm512_mask_storeu_ps(dst + i, lanes_mask((long)(count - i)), widen16(src + i, lanes_mask((long)(count - i))));
}

DW_AVX512_TARGET void dw_bf16_narrow(const float *src, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i += 16) {
        __mmask16 m = lanes_mask((long)(count - i));
        _mm256_mask_storeu_epi16(dst + i, m, round16(_mm512_maskz_loadu_ps(m, src + i)));
    }
}

DW_AVX512_TARGET void dw_bf16_pack_nhwc(const uint16_t *src, int channels, int pixels, int first_block, int end_block, float *dst,
                                        ptrdiff_t block_stride) {
    for (int p = 0; p < pixels; p++) {
        const uint16_t *s = src + (ptrdiff_t)p * channels;
        for (int b = first_block; b < end_block; b++) {
            __mmask16 m = lanes_mask(channels - 16L * b);
            _mm512_storeu_ps(dst + (ptrdiff_t)(b - first_block) * block_stride + 16L * p, widen16(s + 16L * b, m));
        }
    }
}

DW_AVX512_TARGET void dw_bf16_unpack_nhwc(const float *src, ptrdiff_t block_stride, int first_block, int end_block, int pixels,
                                          uint16_t *dst, int channels) {
    for (int p = 0; p < pixels; p++) {
        uint16_t *d = dst + (ptrdiff_t)p * channels;
        for (int b = first_block; b < end_block; b++) {
            __mmask16 m = lanes_mask(channels - 16L * b);
            _mm256_mask_storeu_epi16(d + 16L * b, m, round16(_mm512_loadu_ps(src + (ptrdiff_t)(b - first_block) * block_stride + 16L * p)));
        }
    }
}

DW_AVX512_TARGET void dw_bf16_store_tile(const float *tile, ptrdiff_t tile_stride, int vectors, int pixels, const uint16_t *residual,
                                         uint16_t *y, ptrdiff_t pixel_stride, int channels) {
    for (int p = 0; p < pixels; p++) {
        for (int v = 0; v < vectors && 16L * v < channels; v++) {
            __mmask16 m = lanes_mask(channels - 16L * v);
            __m512 value = _mm512_loadu_ps(tile + v * tile_stride + 16L * p);
            ptrdiff_t at = p * pixel_stride + 16L * v;
            if (residual) value = _mm512_add_ps(value, widen16(residual + at, m));
            _mm256_mask_storeu_epi16(y + at, m, round16(value));
        }
    }
}
