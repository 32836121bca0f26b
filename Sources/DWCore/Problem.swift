/// A depthwise 2-D convolution problem: batch `n`, channels `c`, input `h`×`w`, a `kh`×`kw` kernel (one
/// filter per channel), stride `sh`×`sw`, symmetric zero padding `ph` (top and bottom) and `pw` (left and
/// right), and dilation `dh`×`dw`: PyTorch's `conv2d(groups=c)` with integer padding.
///
/// Its text form is `n{N}c{C}h{H}w{W}k{K}s{S}p{P}[d{D}]` (benchdnn style), where each of `k`, `s`, `p`
/// and `d` is one number when both axes agree and `{H}x{W}` when they differ, and `d` is left out when the
/// dilation is 1: `n1c128h56w56k31s1p15`, `n1c124h56w56k51x5s1p25x2`, `n1c64h56w56k7s1p9d3`. That form is
/// the problem's identity everywhere: CLI arguments, plan keys, benchmark names and shape files. Every
/// square, dilation-1 problem keeps the spelling it always had. `Problem(parsing:)` and `description` are
/// the only places that read or write it; parsing also accepts the redundant spellings (`k5x5`, `d1`) and
/// `description` gives the canonical one.
///
/// Invariant: every `Problem` value that exists is valid — all sizes positive, paddings ≥ 0, `oh ≥ 1`,
/// `ow ≥ 1`, and the sizes within `Problem.limits` (so that index arithmetic cannot overflow and
/// absurd requests are refused before anything is allocated).
public struct Problem: Hashable, Sendable, Codable, CustomStringConvertible {
    public let n: Int
    public let c: Int
    public let h: Int
    public let w: Int
    /// Kernel height and width.
    public let kh: Int, kw: Int
    /// Vertical and horizontal stride.
    public let sh: Int, sw: Int
    /// Zero padding on each side: `ph` rows above and below, `pw` columns left and right.
    public let ph: Int, pw: Int
    /// Vertical and horizontal dilation (the distance between consecutive taps).
    public let dh: Int, dw: Int

    /// Upper bounds that keep every tensor of a problem addressable and allocatable.
    public enum Limits {
        /// Largest kernel extent accepted on either axis, dilation included: `d·(k − 1) + 1`.
        public static let maxKernel = 1023
        /// Largest element count of any one tensor (input, output): 2^32 floats = 16 GiB. Whether a problem
        /// fits this machine is a separate question (`ConvProblem.requireMemory`), asked before allocating.
        public static let maxElements = 1 << 32
    }

    /// A square problem with dilation 1 (RepLKNet's form).
    public init(n: Int, c: Int, h: Int, w: Int, k: Int, s: Int = 1, p: Int) throws {
        try self.init(n: n, c: c, h: h, w: w, kh: k, kw: k, sh: s, sw: s, ph: p, pw: p)
    }

    /// Creates a problem, validating every field. Throws `ProblemError` naming the offending field.
    public init(n: Int, c: Int, h: Int, w: Int, kh: Int, kw: Int, sh: Int = 1, sw: Int = 1, ph: Int, pw: Int,
                dh: Int = 1, dw: Int = 1) throws {
        func positive(_ v: Int, _ field: String) throws {
            guard v >= 1 else { throw ProblemError.field(field, "must be at least 1, got \(v)") }
        }
        try positive(n, "n (batch)")
        try positive(c, "c (channels)")
        try positive(h, "h (height)")
        try positive(w, "w (width)")
        for (axis, k, s, d) in [("height", kh, sh, dh), ("width", kw, sw, dw)] {
            try positive(k, "k (kernel \(axis))")
            try positive(s, "s (stride \(axis))")
            try positive(d, "d (dilation \(axis))")
            guard k <= Limits.maxKernel, d <= Limits.maxKernel, d * (k - 1) + 1 <= Limits.maxKernel else {
                throw ProblemError.field("k (kernel \(axis))", "\(k) with dilation \(d) spans \(d * (k - 1) + 1), over the limit \(Limits.maxKernel)")
            }
        }
        for (axis, p) in [("height", ph), ("width", pw)] {
            guard p >= 0 else { throw ProblemError.field("p (padding \(axis))", "must not be negative, got \(p)") }
            guard p < Limits.maxKernel else {
                throw ProblemError.field("p (padding \(axis))", "\(p) exceeds the limit \(Limits.maxKernel - 1)")
            }
        }
        let (ekh, ekw) = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
        guard h + 2 * ph >= ekh else {
            throw ProblemError.field("h (height)", "padded height \(h + 2 * ph) is smaller than the kernel's extent \(ekh)")
        }
        guard w + 2 * pw >= ekw else {
            throw ProblemError.field("w (width)", "padded width \(w + 2 * pw) is smaller than the kernel's extent \(ekw)")
        }
        let (inCount, o1) = n.multipliedReportingOverflow(by: c)
        let (inPlane, o2) = h.multipliedReportingOverflow(by: w)
        let (inTotal, o3) = inCount.multipliedReportingOverflow(by: inPlane)
        guard !(o1 || o2 || o3), inTotal <= Limits.maxElements else {
            throw ProblemError.field("n×c×h×w", "input of \(n)×\(c)×\(h)×\(w) elements exceeds the limit of \(Limits.maxElements)")
        }
        // Padding can make the output larger than the input (up to (h + 2046)·(w + 2046) per plane).
        let outH = (h + 2 * ph - ekh) / sh + 1, outW = (w + 2 * pw - ekw) / sw + 1
        let (outPlane, o4) = outH.multipliedReportingOverflow(by: outW)
        let (outTotal, o5) = inCount.multipliedReportingOverflow(by: outPlane)
        guard !(o4 || o5), outTotal <= Limits.maxElements else {
            throw ProblemError.field("n×c×oh×ow", "output of \(n)×\(c)×\(outH)×\(outW) elements exceeds the limit of \(Limits.maxElements)")
        }
        self.n = n; self.c = c; self.h = h; self.w = w
        self.kh = kh; self.kw = kw; self.sh = sh; self.sw = sw; self.ph = ph; self.pw = pw; self.dh = dh; self.dw = dw
    }

    /// The same layer with another batch, or other map sizes (nil keeps them).
    public func with(n: Int? = nil, h: Int? = nil, w: Int? = nil) throws -> Problem {
        try Problem(n: n ?? self.n, c: c, h: h ?? self.h, w: w ?? self.w, kh: kh, kw: kw, sh: sh, sw: sw, ph: ph, pw: pw, dh: dh, dw: dw)
    }

    /// Rows and columns the kernel spans on the input, dilation included: `d·(k − 1) + 1`.
    public var extentH: Int { dh * (kh - 1) + 1 }
    public var extentW: Int { dw * (kw - 1) + 1 }

    /// Output height: ⌊(h + 2·ph − extentH) / sh⌋ + 1.
    public var oh: Int { (h + 2 * ph - extentH) / sh + 1 }
    /// Output width: ⌊(w + 2·pw − extentW) / sw⌋ + 1.
    public var ow: Int { (w + 2 * pw - extentW) / sw + 1 }

    /// Taps per filter, `kh·kw`.
    public var taps: Int { kh * kw }
    /// True for RepLKNet's form: a square kernel, one stride, one padding and dilation 1, that is, a problem
    /// that the older square-only text form could express.
    public var isSquare: Bool { kh == kw && sh == sw && ph == pw && dh == 1 && dw == 1 }
    /// True when the kernel has dilation 1 on both axes.
    public var isUndilated: Bool { dh == 1 && dw == 1 }

    /// The kernel for people: `31`, `51×5`, `7 d3`, `3×13 d1×2`.
    public var kernelLabel: String {
        func pair(_ a: Int, _ b: Int) -> String { a == b ? "\(a)" : "\(a)×\(b)" }
        return pair(kh, kw) + (isUndilated ? "" : " d" + pair(dh, dw))
    }

    /// The benchdnn-style text form (see the type's documentation).
    public var description: String {
        func pair(_ a: Int, _ b: Int) -> String { a == b ? "\(a)" : "\(a)x\(b)" }
        let d = isUndilated ? "" : "d" + pair(dh, dw)
        return "n\(n)c\(c)h\(h)w\(w)k\(pair(kh, kw))s\(pair(sh, sw))p\(pair(ph, pw))" + d
    }

    /// Padding that keeps the map size at stride 1 on one axis, PyTorch's `padding='same'`: `d·(k − 1) / 2`
    /// on each side. Nil when that total is odd (an even kernel at odd dilation), which needs one more row
    /// or column on one side than on the other: symmetric padding cannot express it.
    public static func samePadding(kernel k: Int, dilation d: Int = 1) -> Int? {
        (d * (k - 1)) % 2 == 0 ? d * (k - 1) / 2 : nil
    }

    /// A kernel as `--sizes` writes it: `K` or `KHxKW`, then optionally `dD` or `dDHxDW` (`31`, `51x5`, `7d3`,
    /// `3x13d1x2`). Returns (kh, kw, dh, dw).
    public static func kernelForm(parsing text: String) throws -> (kh: Int, kw: Int, dh: Int, dw: Int) {
        let f = try ProblemText.pairedFields("k" + text, [("k", "kernel size", false), ("d", "dilation", true)],
                                             grammar: "K, KHxKW, KdD or KHxKWdDHxDW")
        let d = f[1] ?? (1, 1)
        return (f[0]!.0, f[0]!.1, d.0, d.1)
    }

    /// "Same" padding for odd kernels: `k / 2`.
    public static func samePadding(_ k: Int) -> Int { k / 2 }

    /// The grammar, for messages.
    public static let grammar = "n{N}c{C}h{H}w{W}k{K}s{S}p{P}[d{D}], each of k, s, p, d one number or {H}x{W}"

    /// Parses the text form. Every field but `d` must be present, in order, as a decimal number or a pair.
    public init(parsing text: String) throws {
        let f = try ProblemText.pairedFields(text, [("n", "batch", false), ("c", "channels", false), ("h", "height", false),
                                                    ("w", "width", false), ("k", "kernel size", false), ("s", "stride", false),
                                                    ("p", "padding", false), ("d", "dilation", true)],
                                             grammar: Problem.grammar)
        let d = f[7] ?? (1, 1)
        try self.init(n: f[0]!.0, c: f[1]!.0, h: f[2]!.0, w: f[3]!.0, kh: f[4]!.0, kw: f[4]!.1, sh: f[5]!.0, sw: f[5]!.1,
                      ph: f[6]!.0, pw: f[6]!.1, dh: d.0, dw: d.1)
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
    public var weightCount: Int { c * kh * kw }
    public var outputCount: Int { n * c * oh * ow }

    /// Multiply–add FLOPs of the direct algorithm: 2·N·C·OH·OW·KH·KW. Every algorithm's
    /// "direct-equivalent GFLOP/s" divides this by its time, whatever it actually computed.
    public var flops: Double { 2.0 * Double(n) * Double(c) * Double(oh) * Double(ow) * Double(kh) * Double(kw) }

    /// FLOPs of the taps that meet real input (not zero padding): 2·N·C·(Σ_oy valid rows)·(Σ_ox valid
    /// columns). The least work any direct method can do; with a large kernel on a small map it is far
    /// below `flops` (27% of it for K = 27 on 14×14), so efficiency claims use this count.
    public var usefulFlops: Double {
        // Taps t of output o that land inside 0..<size: 0 ≤ o·s − p + t·d < size.
        func valid(_ o: Int, _ size: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
            (0..<k).reduce(0) { let i = o * s - p + $1 * d; return $0 + (i >= 0 && i < size ? 1 : 0) }
        }
        let rows = (0..<oh).reduce(0) { $0 + valid($1, h, kh, sh, ph, dh) }
        let cols = (0..<ow).reduce(0) { $0 + valid($1, w, kw, sw, pw, dw) }
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

/// A padding as users give it: explicit per-axis zero padding, or PyTorch's `'same'` and `'valid'`.
public enum PaddingSpec: Equatable, Sendable {
    case explicit(h: Int, w: Int)
    case same
    case valid

    /// Parses `P`, `PH,PW`, `same` or `valid`.
    public init(parsing text: String) throws {
        switch text {
        case "same": self = .same
        case "valid": self = .valid
        default:
            let v = try PaddingSpec.pair(text, "padding")
            self = .explicit(h: v.0, w: v.1)
        }
    }

    /// Parses `N` or `H,W` (non-negative integers) for the option named `name`.
    public static func pair(_ text: String, _ name: String) throws -> (Int, Int) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0) }
        guard (parts.count == 1 || parts.count == 2), values.count == parts.count, values.allSatisfy({ $0 >= 0 }) else {
            throw ProblemError.field(name, "must be N or H,W with non-negative integers\(name == "padding" ? ", 'same' or 'valid'" : ""), got '\(text)'")
        }
        return (values[0], values.last!)
    }

    /// Zero rows and columns on each side: (top, bottom, left, right). `'same'` follows PyTorch: a total of
    /// d·(k − 1) per axis, the odd one more at the bottom (right); it needs stride 1.
    public func sides(kh: Int, kw: Int, dh: Int, dw: Int, sh: Int, sw: Int) throws -> (top: Int, bottom: Int, left: Int, right: Int) {
        switch self {
        case let .explicit(h, w): return (h, h, w, w)
        case .valid: return (0, 0, 0, 0)
        case .same:
            guard sh == 1 && sw == 1 else {
                throw ProblemError.field("padding", "'same' needs stride 1 (PyTorch refuses it for strided convolutions too)")
            }
            let (th, tw) = (dh * (kh - 1), dw * (kw - 1))
            return (th / 2, th - th / 2, tw / 2, tw - tw / 2)
        }
    }
}
