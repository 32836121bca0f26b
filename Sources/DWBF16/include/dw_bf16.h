// bf16 micro-kernels of the gemm-bf16 pointwise engine (x86-64 `vdpbf16ps`, AVX512_BF16).
//
// This target is compiled for the baseline x86-64 CPU: only the functions below carry the AVX-512/BF16
// target attribute, and Swift calls them only after dw_bf16_native() said yes (runtime CPUID dispatch), so
// the library runs on CPUs without the instructions and refuses the bf16 algorithms there.
#ifndef DW_BF16_H
#define DW_BF16_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the CPU executes AVX512F and AVX512_BF16 and the OS saves the zmm state; 0 otherwise, or when the
/// environment sets DWBENCH_NO_BF16 (to anything but 0).
int dw_bf16_native(void);

/// The largest tile: output-channel vectors (16 channels each) and pixels.
#define DW_BF16_MAX_VECTORS 4
#define DW_BF16_MAX_PIXELS 14

/// Converts `count` floats to bf16 with the CPU's `vcvtneps2bf16`: round to nearest even, NaN kept (quieted),
/// denormals flushed to signed zero. `count` is any size. Needs dw_bf16_native().
void dw_bf16_convert(const float *src, uint16_t *dst, size_t count);

/// Accumulates a (vectors·16 output channels) × (pixels) tile of Y = W·X over `blocks` blocks of 16 input
/// channels with `vdpbf16ps`, in fp32 accumulators.
///   w: the panel's packed weights, per input-channel pair (8 per block) `vectors` × 32 bf16: output lane i of
///      vector v holds (W[o, 2k], W[o, 2k+1]) at elements 2i, 2i+1.
///   x: the tile's first pixel in the first block of bf16 activations: 16 bf16 per pixel (a block's
///      channels), blocks `x_stride` elements apart.
///   y: fp32 output, NCHW16c, blocks `y_stride` floats apart. With `start` the accumulators begin at the bias
///      vectors start[16·v], otherwise at the values in y.
/// Requires 1 <= vectors <= DW_BF16_MAX_VECTORS, 1 <= pixels <= DW_BF16_MAX_PIXELS. Needs dw_bf16_native().
void dw_bf16_tile(int vectors, int pixels, const uint16_t *w, const uint16_t *x, ptrdiff_t x_stride, int blocks,
                  float *y, ptrdiff_t y_stride, const float *start);

/// Peak probe: `iterations` × 24 independent `vdpbf16ps` on zmm registers (64 FLOPs each). Returns a value
/// that depends on the work so that it is not optimised away.
float dw_bf16_peak_probe(long iterations);

#ifdef __cplusplus
}
#endif
#endif
