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
///   x: the tile's first pixel in the first block of bf16 activations: a block's 16 channels contiguous, pixels
///      `x_pixel` elements apart (16 in a packed block, C in an NHWC tensor read in place), blocks `x_stride`
///      elements apart.
///   y: fp32 output, NCHW16c, blocks `y_stride` floats apart. With `start` the accumulators begin at the bias
///      vectors start[16·v], otherwise at the values in y.
/// Requires 1 <= vectors <= DW_BF16_MAX_VECTORS, 1 <= pixels <= DW_BF16_MAX_PIXELS. Needs dw_bf16_native().
void dw_bf16_tile(int vectors, int pixels, const uint16_t *w, const uint16_t *x, ptrdiff_t x_pixel, ptrdiff_t x_stride,
                  int blocks, float *y, ptrdiff_t y_stride, const float *start);

/// Peak probe: `iterations` × 24 independent `vdpbf16ps` on zmm registers (64 FLOPs each). Returns a value
/// that depends on the work so that it is not optimised away.
float dw_bf16_peak_probe(long iterations);

// ---- bf16 tensors at the interface: AVX512F/BW integer operations only, so also on CPUs without AVX512_BF16.
// Rounding is dw_bf16_convert's (the bits of vcvtneps2bf16). Each needs dw_avx512bw_native(). ----

/// 1 when the environment sets DWBENCH_NO_BF16 (to anything but 0).
int dw_bf16_disabled(void);

/// 1 when the CPU executes AVX512F, AVX512BW and AVX512VL and the OS saves the zmm state.
int dw_avx512bw_native(void);

/// `count` bf16 values widened to floats (exact) / floats rounded to bf16.
void dw_bf16_widen(const uint16_t *src, float *dst, size_t count);
void dw_bf16_narrow(const float *src, uint16_t *dst, size_t count);

/// LayoutConversion.packNHWC / unpackNHWC with the NHWC side in bf16: blocks [first_block, end_block) of `pixels`
/// NHWC pixels of `channels` bf16 ↔ fp32 blocks of 16 lanes per pixel, `block_stride` floats apart (pack zeroes the
/// padding lanes; unpack writes only the real channels).
void dw_bf16_pack_nhwc(const uint16_t *src, int channels, int pixels, int first_block, int end_block, float *dst,
                       ptrdiff_t block_stride);
void dw_bf16_unpack_nhwc(const float *src, ptrdiff_t block_stride, int first_block, int end_block, int pixels,
                         uint16_t *dst, int channels);

/// A finished fp32 tile (`vectors` blocks of 16 channels × `pixels`, blocks `tile_stride` floats apart, a pixel's
/// 16 lanes contiguous) plus the bf16 `residual` (NULL: none) rounded into the bf16 NHWC output `y` (pixels
/// `pixel_stride` elements apart); only the first `channels` channels are read and written.
void dw_bf16_store_tile(const float *tile, ptrdiff_t tile_stride, int vectors, int pixels, const uint16_t *residual,
                        uint16_t *y, ptrdiff_t pixel_stride, int channels);

#ifdef __cplusplus
}
#endif
#endif
