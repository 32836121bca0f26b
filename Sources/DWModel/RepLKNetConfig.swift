import DWCore

/// The hyper-parameters of a RepLKNet (Ding et al., CVPR 2022; the official RepLKNet-pytorch code):
/// per stage a large kernel size, a number of (RepLK block, ConvFFN block) pairs and a width; the parallel
/// small kernel of each large depthwise conv (nil: none); the depthwise width ratio (dw channels =
/// ratio × width); the ConvFFN expansion; input channels and classes.
public struct RepLKNetConfig: Equatable, Sendable, CustomStringConvertible {
    public var kernels: [Int]
    public var blocks: [Int]
    public var channels: [Int]
    public var smallKernel: Int?
    public var dwRatio: Double
    public var ffnRatio: Int
    public var inChannels: Int
    public var classes: Int

    public init(kernels: [Int], blocks: [Int], channels: [Int], smallKernel: Int?, dwRatio: Double = 1, ffnRatio: Int = 4,
                inChannels: Int = 3, classes: Int = 1000) {
        self.kernels = kernels
        self.blocks = blocks
        self.channels = channels
        self.smallKernel = smallKernel
        self.dwRatio = dwRatio
        self.ffnRatio = ffnRatio
        self.inChannels = inChannels
        self.classes = classes
    }

    /// RepLKNet-31B: kernels 31/29/27/13, blocks 2/2/18/2, widths 128/256/512/1024, small kernel 5.
    public static let b31 = RepLKNetConfig(kernels: [31, 29, 27, 13], blocks: [2, 2, 18, 2], channels: [128, 256, 512, 1024], smallKernel: 5)
    /// RepLKNet-31L: as 31B with widths 192/384/768/1536.
    public static let l31 = RepLKNetConfig(kernels: [31, 29, 27, 13], blocks: [2, 2, 18, 2], channels: [192, 384, 768, 1536], smallKernel: 5)
    /// RepLKNet-XL: kernels 27/27/27/13, widths 256/512/1024/2048, dw ratio 1.5, no small kernel.
    public static let xl = RepLKNetConfig(kernels: [27, 27, 27, 13], blocks: [2, 2, 18, 2], channels: [256, 512, 1024, 2048],
                                          smallKernel: nil, dwRatio: 1.5)

    /// The preset called `31B`, `31L` or `XL` (case-insensitive).
    public static func named(_ name: String) -> RepLKNetConfig? {
        switch name.uppercased() {
        case "31B", "B": return .b31
        case "31L", "L": return .l31
        case "XL": return .xl
        default: return nil
        }
    }

    public var stages: Int { channels.count }

    /// Channels of stage s's depthwise layers.
    public func dwChannels(_ s: Int) -> Int { Int((Double(channels[s]) * dwRatio).rounded()) }

    public var description: String {
        "kernels \(kernels), blocks \(blocks), channels \(channels), small kernel \(smallKernel.map(String.init) ?? "none"), dw ratio \(dwRatio), FFN ratio \(ffnRatio), \(classes) classes"
    }
}
