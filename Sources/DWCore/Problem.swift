/// A depthwise 2-D convolution problem: batch `n`, channels `c`, input `h`×`w`, a square `k`×`k`
/// kernel (one filter per channel), stride `s`, symmetric zero padding `p`, dilation 1.
///
/// Its text form is exactly `n{N}c{C}h{H}w{W}k{K}s{S}p{P}` (benchdnn style), e.g.
/// `n1c128h56w56k31s1p15`. That form is the problem's identity everywhere: CLI arguments, plan keys,
/// benchmark names and shape files. `Problem(parsing:)` and `description` are the only places that
/// read or write it.
///
/// Invariant: every `Problem` value that exists is valid — all sizes positive, `p ≥ 0`, `oh ≥ 1`,
/// `ow ≥ 1`, and the sizes within `Problem.limits` (so that index arithmetic cannot overflow and
/// absurd requests are refused before anything is allocated).
public struct Problem: Hashable, Sendable, Codable, CustomStringConvertible {
    public let n: Int
    public let c: Int
    public let h: Int
    public let w: Int
    public let k: Int
    public let s: Int
    public let p: Int

    /// Upper bounds that keep every tensor of a problem addressable and allocatable.
    public enum Limits {
        /// Largest kernel size accepted.
        public static let maxKernel = 1023
        /// Largest element count of any one tensor (input, output): 2^32 floats = 16 GiB. Whether a problem
        /// fits this machine is a separate question (`ConvProblem.requireMemory`), asked before allocating.
        public static let maxElements = 1 << 32
    }

    /// Creates a problem, validating every field. Throws `ProblemError` naming the offending field.
    public init(n: Int, c: Int, h: Int, w: Int, k: Int, s: Int = 1, p: Int) throws {
        func positive(_ v: Int, _ field: String) throws {
            guard v >= 1 else { throw ProblemError.field(field, "must be at least 1, got \(v)") }
        }
        try positive(n, "n (batch)")
        try positive(c, "c (channels)")
        try positive(h, "h (height)")
        try positive(w, "w (width)")
        try positive(k, "k (kernel size)")
        try positive(s, "s (stride)")
        guard p >= 0 else { throw ProblemError.field("p (padding)", "must not be negative, got \(p)") }
        guard k <= Limits.maxKernel else {
            throw ProblemError.field("k (kernel size)", "\(k) exceeds the limit \(Limits.maxKernel)")
        }
        guard p < Limits.maxKernel else {
            throw ProblemError.field("p (padding)", "\(p) exceeds the limit \(Limits.maxKernel - 1)")
        }
        guard h + 2 * p >= k else {
            throw ProblemError.field("h (height)", "padded height \(h + 2 * p) is smaller than the kernel \(k)")
        }
        guard w + 2 * p >= k else {
            throw ProblemError.field("w (width)", "padded width \(w + 2 * p) is smaller than the kernel \(k)")
        }
        let (inCount, o1) = n.multipliedReportingOverflow(by: c)
        let (inPlane, o2) = h.multipliedReportingOverflow(by: w)
        let (inTotal, o3) = inCount.multipliedReportingOverflow(by: inPlane)
        guard !(o1 || o2 || o3), inTotal <= Limits.maxElements else {
            throw ProblemError.field("n×c×h×w", "input of \(n)×\(c)×\(h)×\(w) elements exceeds the limit of \(Limits.maxElements)")
        }
        // Padding can make the output larger than the input (up to (h + 2046)·(w + 2046) per plane).
        let outH = (h + 2 * p - k) / s + 1, outW = (w + 2 * p - k) / s + 1
        let (outPlane, o4) = outH.multipliedReportingOverflow(by: outW)
        let (outTotal, o5) = inCount.multipliedReportingOverflow(by: outPlane)
        guard !(o4 || o5), outTotal <= Limits.maxElements else {
            throw ProblemError.field("n×c×oh×ow", "output of \(n)×\(c)×\(outH)×\(outW) elements exceeds the limit of \(Limits.maxElements)")
        }
        self.n = n; self.c = c; self.h = h; self.w = w; self.k = k; self.s = s; self.p = p
    }

    /// Output height: ⌊(h + 2p − k) / s⌋ + 1.
    public var oh: Int { (h + 2 * p - k) / s + 1 }
    /// Output width: ⌊(w + 2p − k) / s⌋ + 1.
    public var ow: Int { (w + 2 * p - k) / s + 1 }

    /// The benchdnn-style text form, `n{N}c{C}h{H}w{W}k{K}s{S}p{P}`.
    public var description: String { "n\(n)c\(c)h\(h)w\(w)k\(k)s\(s)p\(p)" }

    /// "Same" padding for odd kernels: `k / 2`.
    public static func samePadding(_ k: Int) -> Int { k / 2 }

    /// Parses the exact text form. Every field must be present, in order, as a decimal number.
    public init(parsing text: String) throws {
        let values = try ProblemText.fields(text, [("n", "batch"), ("c", "channels"), ("h", "height"), ("w", "width"),
                                                   ("k", "kernel size"), ("s", "stride"), ("p", "padding")],
                                            grammar: "n{N}c{C}h{H}w{W}k{K}s{S}p{P}")
        try self.init(n: values[0], c: values[1], h: values[2], w: values[3], k: values[4], s: values[5], p: values[6])
    }

    // Codable as the text form, so plans and JSON records carry the same key everywhere.
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        try self.init(parsing: text)
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Input, weight and output element counts.
    public var inputCount: Int { n * c * h * w }
    public var weightCount: Int { c * k * k }
    public var outputCount: Int { n * c * oh * ow }

    /// Multiply–add FLOPs of the direct algorithm: 2·N·C·OH·OW·K². Every algorithm's
    /// "direct-equivalent GFLOP/s" divides this by its time, whatever it actually computed.
    public var flops: Double { 2.0 * Double(n) * Double(c) * Double(oh) * Double(ow) * Double(k) * Double(k) }

    /// FLOPs of the taps that meet real input (not zero padding): 2·N·C·(Σ_oy valid rows)·(Σ_ox valid
    /// columns). The least work any direct method can do; with a large kernel on a small map it is far
    /// below `flops` (27% of it for K = 27 on 14×14), so efficiency claims use this count.
    public var usefulFlops: Double {
        func valid(_ o: Int, _ size: Int) -> Int { max(0, min(size, o * s - p + k) - max(0, o * s - p)) }
        let rows = (0..<oh).reduce(0) { $0 + valid($1, h) }
        let cols = (0..<ow).reduce(0) { $0 + valid($1, w) }
        return 2.0 * Double(n) * Double(c) * Double(rows) * Double(cols)
    }

    /// Compulsory bytes moved (fp32): read input and weights once, write output once.
    public var bytes: Double { 4.0 * Double(inputCount + weightCount + outputCount) }

    /// Arithmetic intensity in FLOP per compulsory byte (roofline x-axis).
    public var intensity: Double { flops / bytes }
}

/// A problem text form or field that is invalid. The message names the field.
public enum ProblemError: Error, CustomStringConvertible, Equatable {
    case syntax(String, String)
    case field(String, String)

    public var description: String {
        switch self {
        case let .syntax(text, why): return "invalid problem '\(text)': \(why)"
        case let .field(field, why): return "invalid problem: \(field) \(why)"
        }
    }
}
