import DWBench
import ArgumentParser
import DWCore
import DWKernels
import DWTune
import Foundation

struct Conv: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one depthwise convolution on your .npy data.",
        discussion: """
        Input (N, C, H, W), weight (C, 1, K, K) as PyTorch stores it, optional bias (C,), all float32 .npy. \
        Writes the output (N, C, OH, OW) atomically; on any error no output file is created. \
        Matches torch.nn.functional.conv2d(x, w, b, stride, padding, groups=C).
        """)

    @Option(help: "Input tensor (N, C, H, W), float32 .npy.") var input: String
    @Option(help: "Weight tensor (C, 1, K, K), float32 .npy.") var weight: String
    @Option(help: "Bias vector (C,), float32 .npy.") var bias: String?
    @Option(help: "Stride (both directions).") var stride: Int = 1
    @Option(help: "Zero padding on every side (PyTorch's default is 0; K/2 keeps the size).") var padding: Int = 0
    @Option(help: "A registry name (see 'dwbench algorithms') or 'auto'.") var algorithm: String = "auto"
    @Option(help: "Where to write the output .npy.") var output: String
    @Option(help: "A tuning plan (dwbench tune) consulted by --algorithm auto.") var plan: String?
    @Flag(help: "With --plan: fail instead of falling back when the plan is foreign or lacks the problem.") var planOnly = false
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if planOnly && plan == nil { throw ValidationError("--plan-only needs --plan") }
        if plan != nil && algorithm != "auto" { throw ValidationError("--plan applies to --algorithm auto only") }
        guard stride >= 1 else { throw ValidationError("--stride must be at least 1, got \(stride)") }
        guard padding >= 0 else { throw ValidationError("--padding must not be negative, got \(padding)") }
    }

    func run() throws {
        let x = try readNPY(input, role: "input")
        let w = try readNPY(weight, role: "weight")
        guard x.shape.count == 4 else { throw CLIError("\(input): input must have rank 4 (N, C, H, W), got shape \(x.shape)") }
        guard w.shape.count == 4, w.shape[1] == 1, w.shape[2] == w.shape[3] else {
            throw CLIError("\(weight): weight must have shape (C, 1, K, K), got \(w.shape)")
        }
        guard w.shape[0] == x.shape[1] else {
            throw CLIError("\(weight): weight has \(w.shape[0]) channels but the input has \(x.shape[1])")
        }
        var b: [Float]?
        if let bias {
            let bv = try readNPY(bias, role: "bias")
            guard bv.shape == [x.shape[1]] else { throw CLIError("\(bias): bias must have shape (\(x.shape[1]),), got \(bv.shape)") }
            b = bv.values
        }
        let problem = try cli { try Problem(n: x.shape[0], c: x.shape[1], h: x.shape[2], w: x.shape[3], k: w.shape[2], s: stride, p: padding) }
        try cli { try ConvProblem.depthwise(problem).requireMemory() }  // padding can make the output far larger than the input
        let chosen: any DepthwiseAlgorithm
        var source = "named"
        if algorithm == "auto" {
            (chosen, source) = try cli {
                let planner = try plan.map { try Planner.open(path: $0, threads: threadOptions.threads, planOnly: planOnly) } ?? .heuristic
                if let warning = planner.warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
                let choice = try planner.choose(.depthwise(problem))
                guard let depthwise = choice.depthwise else { throw CLIError("the plan names '\(choice.algorithm.name)' for \(problem), not a depthwise algorithm") }
                return (depthwise, choice.sourceText)
            }
        } else if let named = Registry.algorithms.first(where: { $0.name == algorithm }) {
            chosen = named
        } else if Registry.pointwise.contains(where: { $0.name == algorithm }) {
            throw CLIError("'\(algorithm)' is a pointwise (1×1) algorithm and conv runs depthwise convolutions; depthwise algorithms: \(Registry.algorithms.map(\.name).joined(separator: ", ")) (pointwise ones run in 'dwbench bench --shape n…c…h…w…o…')")
        } else {
            throw CLIError("unknown algorithm '\(algorithm)'; depthwise algorithms: \(Registry.algorithms.map(\.name).joined(separator: ", "))")
        }
        if let why = chosen.supports(problem) {
            let alternatives = Registry.algorithms.filter { $0.supports(problem) == nil }.map(\.name)
            throw CLIError("algorithm '\(chosen.name)' does not support \(problem): \(why); algorithms that do: \(alternatives.joined(separator: ", "))")
        }
        let weights = try DepthwiseWeights(channels: problem.c, kernel: problem.k, weight: w.values, bias: b)
        let tensor = Tensor(nchw: x.values, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
        let out = try ThreadPool.with(threads: threadOptions.threads) { pool in
            try DepthwiseConvolution.run(chosen, problem: problem, weights: weights, input: tensor, executor: pool)
        }
        let result = NPYArray(shape: [problem.n, problem.c, problem.oh, problem.ow], values: out.nchwValues())
        try cli { try result.write(path: output) }
        FileHandle.standardError.write(Data("\(problem) with \(chosen.name) (\(source)): wrote \(output)\n".utf8))
    }
}

func readNPY(_ path: String, role: String) throws -> NPYArray {
    do { return try NPYArray.read(path: path) } catch { throw CLIError(error, context: role) }
}
