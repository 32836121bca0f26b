/// A pointwise (1×1) convolution problem: batch `n`, `c` input channels, an `h`×`w` map, `o` output
/// channels, stride 1, no padding. Per image it is the GEMM Y (O × HW) = W (O × C) · X (C × HW).
///
/// Its text form is exactly `n{N}c{C}h{H}w{W}o{O}` (the depthwise grammar with `o` in place of
/// `k/s/p`), e.g. `n1c512h14w14o2048`, followed by `.bf16` when the problem allows bf16 arithmetic
/// (`n1c512h14w14o2048.bf16`; fp32, the default, has no suffix). `PointwiseProblem(parsing:)` and
/// `description` are the only places that read or write it.
///
/// Invariant: every value that exists is valid — all sizes positive and every tensor (input, weights,
/// output) within `Problem.Limits.maxElements`, so absurd requests are refused before allocation.
public struct PointwiseProblem: Hashable, Sendable, Codable, CustomStringConvertible {
    public let n: Int
    public let c: Int
    public let h: Int
    public let w: Int
    public let o: Int
    /// The arithmetic allowed (`Precision`): bf16 algorithms support only `.bf16` problems.
    public let precision: Precision

    /// Creates a problem, validating every field. Throws `ProblemError` naming the offending field.
    public init(n: Int, c: Int, h: Int, w: Int, o: Int, precision: Precision = .fp32) throws {
        for (v, field) in [(n, "n (batch)"), (c, "c (input channels)"), (h, "h (height)"), (w, "w (width)"), (o, "o (output channels)")] {
            guard v >= 1 else { throw ProblemError.field(field, "must be at least 1, got \(v)") }
        }
        func product(_ factors: [Int]) -> Int? {
            var r = 1
            for f in factors {
                let (m, overflow) = r.multipliedReportingOverflow(by: f)
                if overflow || m > Problem.Limits.maxElements { return nil }
                r = m
            }
            return r
        }
        guard product([n, c, h, w]) != nil else {
            throw ProblemError.field("n×c×h×w", "input of \(n)×\(c)×\(h)×\(w) elements exceeds the limit of \(Problem.Limits.maxElements)")
        }
        guard product([n, o, h, w]) != nil else {
            throw ProblemError.field("n×o×h×w", "output of \(n)×\(o)×\(h)×\(w) elements exceeds the limit of \(Problem.Limits.maxElements)")
        }
        guard product([o, c]) != nil else {
            throw ProblemError.field("o×c", "weights of \(o)×\(c) elements exceed the limit of \(Problem.Limits.maxElements)")
        }
        self.n = n; self.c = c; self.h = h; self.w = w; self.o = o
        self.precision = precision
    }

    /// The text form, `n{N}c{C}h{H}w{W}o{O}`, with `.bf16` for a bf16 problem.
    public var description: String { "n\(n)c\(c)h\(h)w\(w)o\(o)" + (precision == .fp32 ? "" : ".\(precision)") }

    /// Parses the exact text form. Every field must be present, in order, as a decimal number; the only
    /// suffix is `.bf16` (fp32 is spelled without one, so each problem has one text form).
    public init(parsing text: String) throws {
        var body = Substring(text), precision = Precision.fp32
        if let dot = text.firstIndex(of: ".") {
            let suffix = String(text[text.index(after: dot)...])
            guard suffix == Precision.bf16.rawValue else {
                throw ProblemError.syntax(text, "unknown suffix '.\(suffix)' (the only one is .bf16; fp32 has none)")
            }
            body = text[..<dot]
            precision = .bf16
        }
        let v = try ProblemText.fields(String(body), [("n", "batch"), ("c", "input channels"), ("h", "height"), ("w", "width"),
                                                      ("o", "output channels")], grammar: "n{N}c{C}h{H}w{W}o{O}[.bf16]")
        try self.init(n: v[0], c: v[1], h: v[2], w: v[3], o: v[4], precision: precision)
    }

    /// The same problem at another precision.
    public func with(precision: Precision) -> PointwiseProblem {
        try! PointwiseProblem(n: n, c: c, h: h, w: w, o: o, precision: precision)
    }

    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    /// Pixels per image, the GEMM's N dimension.
    public var pixels: Int { h * w }
    public var inputCount: Int { n * c * h * w }
    public var weightCount: Int { o * c }
    public var outputCount: Int { n * o * h * w }

    /// 2·N·O·C·H·W: every multiply–add of the GEMM (a 1×1 convolution has no padding waste).
    public var flops: Double { 2.0 * Double(n) * Double(o) * Double(c) * Double(pixels) }

    /// Compulsory bytes (fp32): input, weights and output once each.
    public var bytes: Double { 4.0 * Double(inputCount + weightCount + outputCount) }
}

/// Reads the `letter number letter number …` grammar shared by the problem text forms.
enum ProblemText {
    static func fields(_ text: String, _ fields: [(Character, String)], grammar: String) throws -> [Int] {
        var values: [Int] = []
        var rest = Substring(text)
        for (letter, name) in fields {
            guard let first = rest.first else {
                throw ProblemError.syntax(text, "missing field '\(letter)' (\(name)); expected \(grammar)")
            }
            guard first == letter else {
                throw ProblemError.syntax(text, "expected '\(letter)' (\(name)) but found '\(first)'; expected \(grammar)")
            }
            rest = rest.dropFirst()
            values.append(try number(text, &rest, letter, name))
        }
        guard rest.isEmpty else { throw ProblemError.syntax(text, "unexpected trailing text '\(rest)'") }
        return values
    }

    /// The decimal number at the start of `rest` (consumed), for field `letter` of `text`.
    private static func number(_ text: String, _ rest: inout Substring, _ letter: Character, _ name: String) throws -> Int {
        let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty else { throw ProblemError.syntax(text, "field '\(letter)' (\(name)) has no number") }
        guard digits.count <= 12, let v = Int(digits) else {
            throw ProblemError.syntax(text, "field '\(letter)' (\(name)) number is too large")
        }
        // The text form is the problem's identity (plan keys, file names): one spelling per problem.
        guard digits.count == 1 || digits.first != "0" else {
            throw ProblemError.syntax(text, "field '\(letter)' (\(name)) has a leading zero")
        }
        rest = rest.dropFirst(digits.count)
        return v
    }

    /// Like `fields`, but each value may be a pair `{A}x{B}` (a single number means both), and a field marked
    /// optional may be absent (nil). A redundant pair (`5x5`) is accepted; the canonical spelling is the
    /// caller's `description`.
    static func pairedFields(_ text: String, _ fields: [(Character, String, Bool)], grammar: String) throws -> [(Int, Int)?] {
        var values: [(Int, Int)?] = []
        var rest = Substring(text)
        for (letter, name, optional) in fields {
            guard let first = rest.first else {
                if optional { values.append(nil); continue }
                throw ProblemError.syntax(text, "missing field '\(letter)' (\(name)); expected \(grammar)")
            }
            guard first == letter else {
                if optional { values.append(nil); continue }
                throw ProblemError.syntax(text, "expected '\(letter)' (\(name)) but found '\(first)'; expected \(grammar)")
            }
            rest = rest.dropFirst()
            let a = try number(text, &rest, letter, name)
            if rest.first == "x" {
                rest = rest.dropFirst()
                values.append((a, try number(text, &rest, letter, name)))
            } else {
                values.append((a, a))
            }
        }
        guard rest.isEmpty else { throw ProblemError.syntax(text, "unexpected trailing text '\(rest)'") }
        return values
    }
}

/// Any problem the suite benchmarks and tunes: the identity used by CLI arguments, plan keys, benchmark
/// names and shape files. Parsing picks the grammar by its fifth field: `k` (depthwise) or `o` (pointwise).
/// The two operations dwbench solves; an algorithm declares which one.
public enum ProblemKind: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case depthwise, pointwise
    public var description: String { rawValue }
}

public enum ConvProblem: Hashable, Sendable, Codable, CustomStringConvertible {
    case depthwise(Problem)
    case pointwise(PointwiseProblem)

    public init(parsing text: String) throws {
        // n…c…h…w… then either k (depthwise) or o (pointwise).
        let letters = text.filter { $0.isLetter }
        if letters.hasPrefix("nchwo") {
            self = .pointwise(try PointwiseProblem(parsing: text))
        } else {
            self = .depthwise(try Problem(parsing: text))
        }
    }

    public init(from decoder: Decoder) throws {
        try self.init(parsing: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    public var description: String {
        switch self {
        case let .depthwise(p): return p.description
        case let .pointwise(p): return p.description
        }
    }

    /// "depthwise" or "pointwise".
    public var kind: ProblemKind {
        switch self {
        case .depthwise: return .depthwise
        case .pointwise: return .pointwise
        }
    }

    /// The arithmetic the problem allows (depthwise problems are fp32).
    public var precision: Precision { pointwise?.precision ?? .fp32 }

    /// The problem allowing `precision` (pointwise problems; a depthwise one is returned as it is, since no
    /// depthwise algorithm computes in bf16).
    public func with(precision: Precision) -> ConvProblem {
        if case let .pointwise(p) = self { return .pointwise(p.with(precision: precision)) }
        return self
    }

    public var depthwise: Problem? { if case let .depthwise(p) = self { return p } else { return nil } }
    public var pointwise: PointwiseProblem? { if case let .pointwise(p) = self { return p } else { return nil } }

    /// Arithmetic of the direct method (depthwise: 2·N·C·OH·OW·K²; pointwise: 2·N·O·C·H·W).
    public var flops: Double {
        switch self {
        case let .depthwise(p): return p.flops
        case let .pointwise(p): return p.flops
        }
    }

    /// FLOPs that meet real data (depthwise: excludes taps on padding; pointwise: all of them).
    public var usefulFlops: Double {
        switch self {
        case let .depthwise(p): return p.usefulFlops
        case let .pointwise(p): return p.flops
        }
    }

    /// Compulsory bytes.
    public var bytes: Double {
        switch self {
        case let .depthwise(p): return p.bytes
        case let .pointwise(p): return p.bytes
        }
    }

    /// Input shape (n, c, h, w) and output shape.
    public var inputShape: (n: Int, c: Int, h: Int, w: Int) {
        switch self {
        case let .depthwise(p): return (p.n, p.c, p.h, p.w)
        case let .pointwise(p): return (p.n, p.c, p.h, p.w)
        }
    }

    public var outputShape: (n: Int, c: Int, h: Int, w: Int) {
        switch self {
        case let .depthwise(p): return (p.n, p.c, p.oh, p.ow)
        case let .pointwise(p): return (p.n, p.o, p.h, p.w)
        }
    }
}
