import DWCore

/// A pointwise (1×1) convolution algorithm: stateless, named with its parameters, with the same
/// problem → algorithm → plan life cycle as `DepthwiseAlgorithm`:
/// 1. `supports(_:)` returns `nil` or the reason it cannot run a problem.
/// 2. `prepare(_:weights:epilogue:executor:)` packs the weights (folding a pre-BatchNorm into them) and
///    allocates workspace. It may be slow.
/// 3. `PointwisePlan.execute(input:output:residual:)` is the only timed step. It allocates nothing.
public protocol PointwiseAlgorithm: ConvolutionAlgorithm {
    /// Registry name, parameters included (e.g. `gemm-simd.o32p14`). Unique across the registry.
    var name: String { get }
    /// The activation layout `execute` reads and writes (input, output and residual alike).
    var layout: Layout { get }
    /// One line saying what the algorithm does.
    var summary: String { get }
    func supports(_ problem: PointwiseProblem) -> String?
    /// Precondition: `supports(problem) == nil` (otherwise throws `AlgorithmError.unsupported`), weights match.
    func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                 executor: any Executor) throws -> any PointwisePlan
    /// FLOPs and memory bytes of one execution, for the tuner's roofline. Defaults to the compulsory ones.
    func workEstimate(_ problem: PointwiseProblem) -> WorkEstimate
}

/// A prepared 1×1 convolution with its fused epilogue.
///
/// Thread safety: one `execute` at a time per plan. Determinism: the output is bitwise identical for the
/// same input whatever the thread count (threads split output tiles; every output's sum runs over the
/// input channels in one fixed order).
public protocol PointwisePlan: AnyObject {
    var problem: PointwiseProblem { get }
    var layout: Layout { get }
    var epilogue: PointwiseEpilogue { get }
    /// Computes `output = act(W·input + bias) + residual`. `input` holds `layout.storageCount(n,c,h,w)` floats,
    /// `output` and `residual` `layout.storageCount(n,o,h,w)`. `residual` must be non-nil exactly when
    /// `epilogue.residual` is set and must not alias `output`.
    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?)
}

/// A plan that also runs on NHWC tensors (PyTorch's channels_last) as they are, without converting them: the
/// packed-panel GEMMs, whose input packing and epilogue store are the only steps that see the activation layout.
/// The output is bit for bit what `execute` gives on the same tensors in the plan's own layout.
public protocol NHWCPointwisePlan: PointwisePlan {
    /// Allocates the per-worker workspace of the NHWC path (packed input blocks, tile accumulators) now, so that
    /// `executeNHWC` allocates nothing; it does so on first use otherwise.
    func reserveNHWC()
    /// `execute` with `input` (n, h, w, c), `output` and `residual` (n, h, w, o), all NHWC and unpadded.
    func executeNHWC(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?)
    /// The same on bf16 tensors, read and written in place: inputs widened exactly, the fp32 result (after the
    /// epilogue and residual add) rounded once to bf16. The sums are those of the fp32 entry on the widened input.
    func executeNHWC(input: UnsafePointer<BFloat16>, output: UnsafeMutablePointer<BFloat16>, residual: UnsafePointer<BFloat16>?)
}

/// What is applied to each output after the matrix product, in this order: bias (always; zero when
/// absent), the activation, then the residual add — `y = act(W·x + b) + r`. This is every 1×1 conv of
/// RepLKNet: `pw1` (bias, ReLU or GELU) and `pw2` (bias, residual).
public struct PointwiseEpilogue: Sendable, Hashable, CustomStringConvertible {
    public enum Activation: String, Sendable, Hashable, CaseIterable {
        case none
        case relu
        /// x·Φ(x) = 0.5·x·(1 + erf(x/√2)), the exact form (PyTorch's default `approximate='none'`).
        case gelu
    }

    public var activation: Activation
    public var residual: Bool

    public init(activation: Activation = .none, residual: Bool = false) {
        self.activation = activation
        self.residual = residual
    }

    public static let none = PointwiseEpilogue()

    /// Parses "bias" (or "none"), or '+'-joined parts among relu, gelu and residual ("bias" may appear too;
    /// the bias is always applied), e.g. "gelu+residual".
    public init(parsing text: String) throws {
        self.init()
        for part in text.split(separator: "+").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch part {
            case "bias", "none": break
            case "relu", "gelu":
                guard activation == .none else { throw AlgorithmError.badEpilogue("'\(text)' has two activations") }
                activation = part == "relu" ? .relu : .gelu
            case "residual": residual = true
            default: throw AlgorithmError.badEpilogue("unknown part '\(part)' in '\(text)' (expected bias, relu, gelu, residual joined with '+')")
            }
        }
    }

    public var description: String {
        var parts = ["bias"]
        if activation != .none { parts.append(activation.rawValue) }
        if residual { parts.append("residual") }
        return parts.joined(separator: "+")
    }
}

/// Weights of a 1×1 layer in PyTorch's order: `weight` (O, C, 1, 1) flattened to O·C floats, `bias` O
/// floats, and optionally a BatchNorm applied to the input before the convolution, given as its per-input-
/// channel affine map x ↦ x·scale + shift (scale = γ/√(σ²+ε), shift = β − μ·scale). Preparation folds it:
/// W' = W·diag(scale), b' = b + W·shift.
public struct PointwiseWeights: Sendable {
    public let outChannels: Int
    public let inChannels: Int
    public let weight: [Float]
    public let bias: [Float]?
    public let inputScale: [Float]?
    public let inputShift: [Float]?

    public init(outChannels: Int, inChannels: Int, weight: [Float], bias: [Float]? = nil,
                inputScale: [Float]? = nil, inputShift: [Float]? = nil) throws {
        guard weight.count == outChannels * inChannels else {
            throw AlgorithmError.badWeights("weight has \(weight.count) values, expected O·C = \(outChannels)·\(inChannels)")
        }
        if let bias, bias.count != outChannels {
            throw AlgorithmError.badWeights("bias has \(bias.count) values, expected O = \(outChannels)")
        }
        guard (inputScale == nil) == (inputShift == nil) else {
            throw AlgorithmError.badWeights("a folded pre-BatchNorm needs both its scale and its shift")
        }
        if let inputScale, inputScale.count != inChannels || inputShift!.count != inChannels {
            throw AlgorithmError.badWeights("pre-BatchNorm scale/shift have \(inputScale.count)/\(inputShift!.count) values, expected C = \(inChannels)")
        }
        self.outChannels = outChannels
        self.inChannels = inChannels
        self.weight = weight
        self.bias = bias
        self.inputScale = inputScale
        self.inputShift = inputShift
    }

    /// Seeded random weights in [-1, 1)/√C (so outputs stay O(1)), a bias, and optionally a pre-BatchNorm.
    public static func random(for problem: PointwiseProblem, bias: Bool = true, preBatchNorm: Bool = false,
                              seed: UInt64 = 42) -> PointwiseWeights {
        var rng = SeededGenerator(seed: seed)
        let scale = 1 / Float(problem.c).squareRoot()
        let w = rng.signedArray(problem.weightCount).map { $0 * scale }
        let b = bias ? rng.signedArray(problem.o) : nil
        let s = preBatchNorm ? rng.signedArray(problem.c).map { 0.5 + 0.5 * abs($0) } : nil
        let t = preBatchNorm ? rng.signedArray(problem.c) : nil
        return try! PointwiseWeights(outChannels: problem.o, inChannels: problem.c, weight: w, bias: b, inputScale: s, inputShift: t)
    }

    func check(against problem: PointwiseProblem) throws {
        guard outChannels == problem.o, inChannels == problem.c else {
            throw AlgorithmError.badWeights("weights are O=\(outChannels) C=\(inChannels) but the problem is \(problem)")
        }
    }

    /// The weights with the pre-BatchNorm folded in: (W·diag(scale) as O×C row-major, b + W·shift).
    /// The shift's contribution is summed in Double, so folding adds one rounding per bias.
    public func folded() -> (weight: [Float], bias: [Float]) {
        var w = weight
        var b = bias ?? [Float](repeating: 0, count: outChannels)
        if let inputScale, let inputShift {
            for o in 0..<outChannels {
                var extra = 0.0
                for c in 0..<inChannels {
                    extra += Double(weight[o * inChannels + c]) * Double(inputShift[c])
                    w[o * inChannels + c] = weight[o * inChannels + c] * inputScale[c]
                }
                b[o] = Float(Double(b[o]) + extra)
            }
        }
        return (w, b)
    }
}

extension PointwiseAlgorithm {
    public func workEstimate(_ problem: PointwiseProblem) -> WorkEstimate {
        WorkEstimate(flops: problem.flops, bytes: problem.bytes)
    }

    func validate(_ problem: PointwiseProblem, _ weights: PointwiseWeights) throws {
        if let reason = supports(problem) {
            throw AlgorithmError.unsupported(algorithm: name, problem: .pointwise(problem), reason: reason)
        }
        try weights.check(against: problem)
    }
}

/// The choice without a plan: our GEMM with 48-channel × 8-pixel tiles, kc = 512 (within a few percent
/// of the fastest tile shape on every RepLKNet 1×1 layer in the committed Results); for a bf16 problem on a
/// CPU with avx512_bf16, the bf16 GEMM with the same tile (1.9–2× the fp32 one on every RepLKNet 1×1 layer).
public enum PointwiseConvolution {
    public static func automaticChoice(for problem: PointwiseProblem) -> any PointwiseAlgorithm {
        let bf16 = PointwiseGEMMBF16(vectors: 3, pixels: 8)
        return bf16.supports(problem) == nil ? bf16 : PointwiseGEMM(vectors: 3, pixels: 8)
    }
}
