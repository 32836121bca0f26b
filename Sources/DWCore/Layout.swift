/// Memory layouts of a 4-D activation tensor (N, C, H, W).
///
/// - `nchw`: PyTorch's default; a channel's H×W plane is contiguous.
/// - `nhwc`: channels innermost; a pixel's C values are contiguous.
/// - `nchw16c`: channel-blocked (oneDNN's `nChw16c`): C is split into ⌈C/16⌉ blocks, each stored as an
///   H×W×16 plane, so one `SIMD16<Float>` holds the 16 channels of one pixel. Channels past C in the
///   last block are zero.
public enum Layout: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case nchw
    case nhwc
    case nchw16c

    public var description: String { rawValue }

    /// Width of the channel block, 16 for `nchw16c`.
    public static let blockWidth = 16

    /// Elements a tensor of logical shape (n, c, h, w) occupies in this layout (block padding included).
    public func storageCount(n: Int, c: Int, h: Int, w: Int) -> Int {
        switch self {
        case .nchw, .nhwc: return n * c * h * w
        case .nchw16c: return n * Layout.blocks(c) * Layout.blockWidth * h * w
        }
    }

    /// ⌈c / 16⌉.
    public static func blocks(_ c: Int) -> Int { (c + blockWidth - 1) / blockWidth }
}

/// Explicit layout conversions. Each is O(N·C·H·W), a single pass reading the source once and
/// writing the destination once; they are what "conversion cost" in reports measures.
public enum LayoutConversion {
    /// Converts `src` (logical n×c×h×w in layout `from`) into `dst` in layout `to`. `dst` must hold
    /// `to.storageCount(...)` elements; block padding channels are written as zero.
    public static func convert(_ src: UnsafePointer<Float>, from: Layout,
                               _ dst: UnsafeMutablePointer<Float>, to: Layout,
                               n: Int, c: Int, h: Int, w: Int) {
        if from == to {
            dst.update(from: src, count: from.storageCount(n: n, c: c, h: h, w: w))
            return
        }
        let hw = h * w
        let bw = Layout.blockWidth
        let cb = Layout.blocks(c)
        switch (from, to) {
        case (.nchw, .nchw16c):
            for b in 0..<n {
                for blk in 0..<cb {
                    let d = dst + (b * cb + blk) * hw * bw
                    let lanes = min(bw, c - blk * bw)
                    if lanes < bw { d.update(repeating: 0, count: hw * bw) }
                    for lane in 0..<lanes {
                        let s = src + (b * c + blk * bw + lane) * hw
                        for px in 0..<hw { d[px * bw + lane] = s[px] }
                    }
                }
            }
        case (.nchw16c, .nchw):
            for b in 0..<n {
                for blk in 0..<cb {
                    let s = src + (b * cb + blk) * hw * bw
                    for lane in 0..<min(bw, c - blk * bw) {
                        let d = dst + (b * c + blk * bw + lane) * hw
                        for px in 0..<hw { d[px] = s[px * bw + lane] }
                    }
                }
            }
        case (.nhwc, .nchw16c):
            for b in 0..<n {
                packNHWC(src + b * hw * c, channels: c, pixels: hw, blocks: 0..<cb, dst + b * cb * hw * bw, blockStride: hw * bw)
            }
        case (.nchw16c, .nhwc):
            for b in 0..<n {
                unpackNHWC(src + b * cb * hw * bw, blockStride: hw * bw, blocks: 0..<cb, pixels: hw, dst + b * hw * c, channels: c)
            }
        default:
            // Any other pair goes through NCHW indices element by element.
            func index(_ layout: Layout, _ b: Int, _ ch: Int, _ pixel: Int) -> Int {
                switch layout {
                case .nchw: return (b * c + ch) * hw + pixel
                case .nhwc: return (b * hw + pixel) * c + ch
                case .nchw16c: return ((b * cb + ch / bw) * hw + pixel) * bw + ch % bw
                }
            }
            if to == .nchw16c { dst.update(repeating: 0, count: Layout.nchw16c.storageCount(n: n, c: c, h: h, w: w)) }
            for b in 0..<n {
                for ch in 0..<c {
                    for pixel in 0..<hw { dst[index(to, b, ch, pixel)] = src[index(from, b, ch, pixel)] }
                }
            }
        }
    }
}

extension LayoutConversion {
    /// NHWC → channel blocks, pixel by pixel: `pixels` consecutive NHWC pixels of `channels` elements at `src`; channel
    /// block `b` of `blocks` goes to `dst + (b - blocks.lowerBound)·blockStride`, 16 floats per pixel (pixel p at
    /// `p·16`), the padding lanes of the last block (channels past `channels`) zero. Each pixel's block is one
    /// 16-element load (widened when `E` is bf16) and one 64-byte store. With `blocks` all of a tensor's and
    /// `blockStride` its H·W·16, this is NHWC → NCHW16c for one image (split pixel ranges over threads by offsetting
    /// `src` by p₀·channels and `dst` by p₀·16); with a few blocks and a chunk's stride, the input packing of the 1×1
    /// GEMMs on NHWC tensors. (`TensorElement.packNHWC`.)
    @inlinable @inline(__always)
    public static func packNHWC<E: TensorElement>(_ src: UnsafePointer<E>, channels c: Int, pixels: Int, blocks: Range<Int>,
                                                  _ dst: UnsafeMutablePointer<Float>, blockStride: Int) {
        E.packNHWC(src, channels: c, pixels: pixels, blocks: blocks, dst, blockStride: blockStride)
    }

    /// The inverse of `packNHWC`: channel blocks (block `b` of `blocks` at `src + (b - blocks.lowerBound)·blockStride`,
    /// pixel p at `p·16`) → `pixels` NHWC pixels of `channels` elements at `dst` (rounded when `E` is bf16), only the
    /// real channels written. (`TensorElement.unpackNHWC`.)
    @inlinable @inline(__always)
    public static func unpackNHWC<E: TensorElement>(_ src: UnsafePointer<Float>, blockStride: Int, blocks: Range<Int>, pixels: Int,
                                                    _ dst: UnsafeMutablePointer<E>, channels c: Int) {
        E.unpackNHWC(src, blockStride: blockStride, blocks: blocks, pixels: pixels, dst, channels: c)
    }
}

/// A 4-D float tensor with its logical shape and layout, backed by an aligned buffer.
public struct Tensor: @unchecked Sendable {
    public let n: Int, c: Int, h: Int, w: Int
    public let layout: Layout
    public let storage: AlignedBuffer

    /// A zero tensor.
    public init(n: Int, c: Int, h: Int, w: Int, layout: Layout = .nchw) {
        self.n = n; self.c = c; self.h = h; self.w = w; self.layout = layout
        storage = AlignedBuffer(count: layout.storageCount(n: n, c: c, h: h, w: w))
    }

    /// Wraps `values` given in NCHW order (count must be n·c·h·w).
    public init(nchw values: [Float], n: Int, c: Int, h: Int, w: Int) {
        precondition(values.count == n * c * h * w, "value count does not match the shape")
        self.n = n; self.c = c; self.h = h; self.w = w; self.layout = .nchw
        storage = AlignedBuffer(values)
    }

    public var pointer: UnsafeMutablePointer<Float> { storage.pointer }

    /// This tensor in `layout` (a copy, or `self` when already there).
    public func converted(to layout: Layout) -> Tensor {
        if layout == self.layout { return self }
        let out = Tensor(n: n, c: c, h: h, w: w, layout: layout)
        LayoutConversion.convert(pointer, from: self.layout, out.pointer, to: layout, n: n, c: c, h: h, w: w)
        return out
    }

    /// The logical values in NCHW order.
    public func nchwValues() -> [Float] { converted(to: .nchw).storage.toArray() }
}
