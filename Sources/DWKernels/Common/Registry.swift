import DWCore

/// The one list of algorithms (XNNPACK's .inc list, oneDNN's implementation list). Tests, the CLI,
/// benchmarks and the tuner enumerate it; adding an algorithm is one file plus one line here.
/// Parameter variants are separate entries, each with its own name. Each kind's reference comes last.
public enum Registry {
    /// Depthwise algorithms.
    public static let algorithms: [any DepthwiseAlgorithm] = [
        DirectSIMD(width: 16),
        DirectSIMD(width: 12),
        DirectSIMD(width: 8),
        DirectSIMD(width: 8, rows: 2),
        ToeplitzRows(),
        FFTConvolution(maxTile: 64),
        FFTConvolution(maxTile: 128),
        FFTStripe(axis: .height),
        FFTStripe(axis: .width),
        ImplicitGEMM(vectors: 4),
        ImplicitGEMM(vectors: 2),
        Im2colGEMM(),
        Naive(),
    ]

    /// Pointwise (1×1) algorithms.
    public static let pointwise: [any PointwiseAlgorithm] = [
        PointwiseGEMM(vectors: 3, pixels: 8),
        PointwiseGEMM(vectors: 3, pixels: 8, kc: 256),
        PointwiseGEMM(vectors: 3, pixels: 8, kc: 1024),
        PointwiseGEMM(vectors: 3, pixels: 9),
        PointwiseGEMM(vectors: 3, pixels: 7),
        PointwiseGEMM(vectors: 4, pixels: 6),
        PointwiseGEMM(vectors: 2, pixels: 14),
        // bf16 (run only on .bf16 problems, where the CPU has avx512_bf16). Two-vector tiles (o32p12, o32p14)
        // measured at half the speed of these on Zen 4 and are not registered.
        PointwiseGEMMBF16(vectors: 3, pixels: 8),
        PointwiseGEMMBF16(vectors: 3, pixels: 9),
        PointwiseGEMMBF16(vectors: 4, pixels: 6),
        PointwiseGEMMBF16(vectors: 4, pixels: 7),
        PointwiseGEMMBF16(vectors: 3, pixels: 8, kc: 256),
        PointwiseBLAS(.openblas),
        PointwiseBLAS(.onednn),
        PointwiseNaive(),
    ]

    /// Every algorithm of every kind, depthwise first.
    public static let all: [any ConvolutionAlgorithm] = algorithms.map { $0 as any ConvolutionAlgorithm }
        + pointwise.map { $0 as any ConvolutionAlgorithm }

    /// The depthwise algorithm registered under `name`.
    public static func algorithm(named name: String) throws -> any DepthwiseAlgorithm {
        guard let a = algorithms.first(where: { $0.name == name }) else { throw AlgorithmError.unknownAlgorithm(name) }
        return a
    }

    /// The pointwise algorithm registered under `name`.
    public static func pointwiseAlgorithm(named name: String) throws -> any PointwiseAlgorithm {
        guard let a = pointwise.first(where: { $0.name == name }) else { throw AlgorithmError.unknownAlgorithm(name) }
        return a
    }

    /// Any algorithm registered under `name`.
    public static func anyAlgorithm(named name: String) throws -> any ConvolutionAlgorithm {
        guard let a = all.first(where: { $0.name == name }) else { throw AlgorithmError.unknownAlgorithm(name) }
        return a
    }

    /// Registry names of every kind, in order.
    public static var names: [String] { all.map(\.name) }

    /// The algorithms of a problem's kind, the reference included.
    public static func algorithms(for problem: ConvProblem) -> [any ConvolutionAlgorithm] {
        all.filter { $0.kind == problem.kind }
    }

    /// The reference of a problem's kind (the last entry of its list).
    public static func reference(for problem: ConvProblem) -> any ConvolutionAlgorithm {
        all.last { $0.kind == problem.kind && $0.isReference }!
    }

    /// The tuning candidates for `problem` among `algorithms` (default: the registry): those of its kind that
    /// support it, the reference excluded, and the others with their reasons.
    public static func candidates(for problem: ConvProblem, among algorithms: [any ConvolutionAlgorithm] = all)
        -> (supported: [any ConvolutionAlgorithm], refused: [(name: String, reason: String)]) {
        var yes: [any ConvolutionAlgorithm] = []
        var no: [(name: String, reason: String)] = []
        for a in algorithms where a.kind == problem.kind && !a.isReference {
            if let why = a.supports(problem) { no.append((a.name, why)) } else { yes.append(a) }
        }
        return (yes, no)
    }
}
