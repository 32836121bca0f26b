import DWCore

/// The one list of algorithms (XNNPACK's .inc list, oneDNN's implementation list). Tests, the CLI,
/// benchmarks and the tuner enumerate it; adding an algorithm is one file plus one line here.
/// Parameter variants are separate entries, each with its own name. The reference comes last.
public enum Registry {
    public static let algorithms: [any DepthwiseAlgorithm] = [
        DirectSIMD(width: 16),
        DirectSIMD(width: 12),
        DirectSIMD(width: 8),
        DirectSIMD(width: 8, rows: 2),
        FFTConvolution(maxTile: 64),
        FFTConvolution(maxTile: 128),
        ImplicitGEMM(vectors: 4),
        ImplicitGEMM(vectors: 2),
        Im2colGEMM(),
        Naive(),
    ]

    /// The algorithm registered under `name`.
    public static func algorithm(named name: String) throws -> any DepthwiseAlgorithm {
        guard let a = algorithms.first(where: { $0.name == name }) else { throw AlgorithmError.unknownAlgorithm(name) }
        return a
    }

    /// Registry names, in order.
    public static var names: [String] { algorithms.map(\.name) }

    /// Algorithms that support `problem`, and the reasons of those that do not.
    public static func candidates(for problem: Problem) -> (supported: [any DepthwiseAlgorithm], refused: [(String, String)]) {
        var yes: [any DepthwiseAlgorithm] = []
        var no: [(String, String)] = []
        for a in algorithms {
            if let why = a.supports(problem) { no.append((a.name, why)) } else { yes.append(a) }
        }
        return (yes, no)
    }
}
