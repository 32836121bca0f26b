import DWBF16

/// The element type of a tensor a caller hands over (the arithmetic is fp32 either way). Everything that touches a
/// caller's NHWC tensor goes through these three operations, so a bf16 tensor (PyTorch under autocast) is read and
/// written in place, with no fp32 copy: the NHWC ↔ channel-block conversions and the store of a 1×1 GEMM's finished
/// tiles.
public protocol TensorElement {
    /// `pixels` NHWC pixels of `channels` elements at `src` → channel blocks `blocks` (block b at
    /// `dst + (b - blocks.lowerBound)·blockStride`, 16 floats per pixel, padding lanes zero).
    static func packNHWC(_ src: UnsafePointer<Self>, channels: Int, pixels: Int, blocks: Range<Int>,
                         _ dst: UnsafeMutablePointer<Float>, blockStride: Int)
    /// The inverse: channel blocks → NHWC pixels, only the real channels written.
    static func unpackNHWC(_ src: UnsafePointer<Float>, blockStride: Int, blocks: Range<Int>, pixels: Int,
                           _ dst: UnsafeMutablePointer<Self>, channels: Int)
    /// A finished fp32 tile (`vectors` blocks of 16 channels × `pixels`, blocks `stride` floats apart) plus `residual`
    /// (nil: none) stored into NHWC `y` (pixels `pixelStride` elements apart), only the first `channels` channels.
    static func storeTile(_ tile: UnsafePointer<Float>, _ stride: Int, vectors: Int, pixels: Int, residual: UnsafePointer<Self>?,
                          _ y: UnsafeMutablePointer<Self>, pixelStride: Int, channels: Int)
}

extension Float: TensorElement {
    @inlinable @inline(__always)
    public static func packNHWC(_ src: UnsafePointer<Float>, channels c: Int, pixels: Int, blocks: Range<Int>,
                                _ dst: UnsafeMutablePointer<Float>, blockStride: Int) {
        let bw = Layout.blockWidth
        for p in 0..<pixels {
            let s = src + p * c
            for blk in blocks {
                let d = UnsafeMutableRawPointer(dst + (blk - blocks.lowerBound) * blockStride + p * bw)
                let lanes = min(bw, c - blk * bw)
                if lanes == bw {
                    d.storeBytes(of: UnsafeRawPointer(s + blk * bw).loadUnaligned(as: SIMD16<Float>.self), as: SIMD16<Float>.self)
                } else {
                    var v = SIMD16<Float>(repeating: 0)
                    for l in 0..<max(0, lanes) { v[l] = s[blk * bw + l] }
                    d.storeBytes(of: v, as: SIMD16<Float>.self)
                }
            }
        }
    }

    @inlinable @inline(__always)
    public static func unpackNHWC(_ src: UnsafePointer<Float>, blockStride: Int, blocks: Range<Int>, pixels: Int,
                                  _ dst: UnsafeMutablePointer<Float>, channels c: Int) {
        let bw = Layout.blockWidth
        for p in 0..<pixels {
            let d = dst + p * c
            for blk in blocks {
                let s = src + (blk - blocks.lowerBound) * blockStride + p * bw
                let lanes = min(bw, c - blk * bw)
                if lanes == bw {
                    UnsafeMutableRawPointer(d + blk * bw).storeBytes(of: UnsafeRawPointer(s).loadUnaligned(as: SIMD16<Float>.self),
                                                                     as: SIMD16<Float>.self)
                } else {
                    for l in 0..<max(0, lanes) { d[blk * bw + l] = s[l] }
                }
            }
        }
    }

    @inlinable @inline(__always)
    public static func storeTile(_ tile: UnsafePointer<Float>, _ stride: Int, vectors: Int, pixels: Int, residual: UnsafePointer<Float>?,
                                 _ y: UnsafeMutablePointer<Float>, pixelStride: Int, channels: Int) {
        for p in 0..<pixels {
            for v in 0..<vectors {
                let lanes = min(16, channels - v * 16)
                if lanes <= 0 { break }
                var value = UnsafeRawPointer(tile + v * stride + p * 16).loadUnaligned(as: SIMD16<Float>.self)
                let at = p * pixelStride + v * 16
                if lanes == 16 {
                    if let residual { value += UnsafeRawPointer(residual + at).loadUnaligned(as: SIMD16<Float>.self) }
                    UnsafeMutableRawPointer(y + at).storeBytes(of: value, as: SIMD16<Float>.self)
                } else {
                    for l in 0..<lanes { y[at + l] = residual.map { value[l] + $0[at + l] } ?? value[l] }
                }
            }
        }
    }
}

/// A bfloat16 element as stored in memory (the top half of a binary32). Read by exact widening; written rounded as
/// `BF16.round` does (the bits of `vcvtneps2bf16`). Where the CPU has AVX-512 (F, BW, VL) the conversions run as
/// AVX-512 integer code in C (`Sources/DWBF16`, runtime dispatch, no AVX512_BF16 needed); elsewhere lane by lane in
/// Swift, with the same bits (tested: CI runs the tests with DWBENCH_NO_BF16 too).
@frozen
public struct BFloat16: TensorElement, Sendable, Equatable {
    public var bits: UInt16
    @inlinable public init(bits: UInt16) { self.bits = bits }

    @inline(__always)
    static func raw(_ p: UnsafePointer<BFloat16>) -> UnsafePointer<UInt16> { UnsafeRawPointer(p).assumingMemoryBound(to: UInt16.self) }
    @inline(__always)
    static func raw(_ p: UnsafeMutablePointer<BFloat16>) -> UnsafeMutablePointer<UInt16> {
        UnsafeMutableRawPointer(p).assumingMemoryBound(to: UInt16.self)
    }

    public static func packNHWC(_ src: UnsafePointer<BFloat16>, channels c: Int, pixels: Int, blocks: Range<Int>,
                                _ dst: UnsafeMutablePointer<Float>, blockStride: Int) {
        if BF16.simd {
            return dw_bf16_pack_nhwc(raw(src), Int32(c), Int32(pixels), Int32(blocks.lowerBound), Int32(blocks.upperBound), dst, blockStride)
        }
        for p in 0..<pixels {
            for blk in blocks {
                let d = dst + (blk - blocks.lowerBound) * blockStride + p * 16
                for l in 0..<16 { d[l] = blk * 16 + l < c ? BF16.float(src[p * c + blk * 16 + l].bits) : 0 }
            }
        }
    }

    public static func unpackNHWC(_ src: UnsafePointer<Float>, blockStride: Int, blocks: Range<Int>, pixels: Int,
                                  _ dst: UnsafeMutablePointer<BFloat16>, channels c: Int) {
        if BF16.simd {
            return dw_bf16_unpack_nhwc(src, blockStride, Int32(blocks.lowerBound), Int32(blocks.upperBound), Int32(pixels), raw(dst), Int32(c))
        }
        for p in 0..<pixels {
            for blk in blocks {
                let s = src + (blk - blocks.lowerBound) * blockStride + p * 16
                for l in 0..<min(16, c - blk * 16) { dst[p * c + blk * 16 + l] = BFloat16(bits: BF16.round(s[l])) }
            }
        }
    }

    public static func storeTile(_ tile: UnsafePointer<Float>, _ stride: Int, vectors: Int, pixels: Int, residual: UnsafePointer<BFloat16>?,
                                 _ y: UnsafeMutablePointer<BFloat16>, pixelStride: Int, channels: Int) {
        if BF16.simd {
            return dw_bf16_store_tile(tile, stride, Int32(vectors), Int32(pixels), residual.map { raw($0) }, raw(y), pixelStride, Int32(channels))
        }
        for p in 0..<pixels {
            for v in 0..<vectors {
                for l in 0..<max(0, min(16, channels - v * 16)) {
                    let at = p * pixelStride + v * 16 + l
                    let value = tile[v * stride + p * 16 + l] + (residual.map { BF16.float($0[at].bits) } ?? 0)
                    y[at] = BFloat16(bits: BF16.round(value))
                }
            }
        }
    }
}

extension BF16 {
    /// Whether the bf16 tensor conversions run as AVX-512 code (`dw_avx512bw_native`). DWBENCH_NO_BF16 (which makes
    /// the CPU look as if it had no bf16 at all) turns it off too, so the portable path is tested wherever CI runs
    /// with it.
    public static let simd: Bool = dw_avx512bw_native() != 0 && dw_bf16_disabled() == 0

    /// `count` bf16 values widened into floats (exact).
    public static func widen(_ src: UnsafePointer<BFloat16>, _ dst: UnsafeMutablePointer<Float>, count: Int) {
        if simd { return dw_bf16_widen(BFloat16.raw(src), dst, count) }
        for i in 0..<count { dst[i] = float(src[i].bits) }
    }

    /// `count` floats rounded to bf16 (`round`'s bits).
    public static func narrow(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<BFloat16>, count: Int) {
        if simd { return dw_bf16_narrow(src, BFloat16.raw(dst), count) }
        for i in 0..<count { dst[i] = BFloat16(bits: round(src[i])) }
    }
}
