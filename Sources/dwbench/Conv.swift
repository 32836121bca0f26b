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
        Input (N, C, H, W), weight (C, 1, KH, KW) as PyTorch stores it, optional bias (C,), all float32 .npy. \
        Writes the output (N, C, OH, OW) atomically; on any error no output file is created. \
        Matches torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups=C), 'same' padding \
        included (an odd total pads the bottom and right by one more, as PyTorch does).
        """)

    @Option(help: "Input tensor (N, C, H, W), float32 .npy.") var input: String
    @Option(help: "Weight tensor (C, 1, KH, KW), float32 .npy.") var weight: String
    @Option(help: "Bias vector (C,), float32 .npy.") var bias: String?
    @Option(help: "Stride: S or SH,SW.") var stride: String = "1"
    @Option(help: "Zero padding: P or PH,PW (each side), 'same' or 'valid' (PyTorch's default is 0).") var padding: String = "0"
    @Option(help: "Dilation: D or DH,DW.") var dilation: String = "1"
    @Option(help: "A registry name (see 'dwbench algorithms') or 'auto'.") var algorithm: String = "auto"
    @Option(help: "Where to write the output .npy.") var output: String
    @Option(help: "A tuning plan (dwbench tune) consulted by --algorithm auto.") var plan: String?
    @Flag(help: "With --plan: fail instead of falling back when the plan is foreign or lacks the problem.") var planOnly = false
    @OptionGroup var threadOptions: ThreadOptions

    func validate() throws {
        if planOnly && plan == nil { throw ValidationError("--plan-only needs --plan") }
        if plan != nil && algorithm != "auto" { throw ValidationError("--plan applies to --algorithm auto only") }
        // One line, without the usage text: these are values, not a misuse of the options.
        do {
            let s = try PaddingSpec.pair(stride, "stride"), d = try PaddingSpec.pair(dilation, "dilation")
            guard min(s.0, s.1) >= 1 else { throw CLIError("--stride must be at least 1, got \(stride)") }
            guard min(d.0, d.1) >= 1 else { throw CLIError("--dilation must be at least 1, got \(dilation)") }
            _ = try PaddingSpec(parsing: padding)
        } catch let ProblemError.field(field, why) {
            throw CLIError("--\(field) \(why)")
        }
    }

    func run() throws {
        let x = try readNPY(input, role: "input")
        let w = try readNPY(weight, role: "weight")
        guard x.shape.count == 4 else { throw CLIError("\(input): input must have rank 4 (N, C, H, W), got shape \(x.shape)") }
        guard w.shape.count == 4, w.shape[1] == 1 else {
            throw CLIError("\(weight): weight must have shape (C, 1, KH, KW), got \(w.shape)")
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
        let (sh, sw) = try cli { try PaddingSpec.pair(stride, "stride") }
        let (dh, dw) = try cli { try PaddingSpec.pair(dilation, "dilation") }
        let (kh, kw) = (w.shape[2], w.shape[3])
        let sides = try cli { try PaddingSpec(parsing: padding).sides(kh: kh, kw: kw, dh: dh, dw: dw, sh: sh, sw: sw) }
        // 'same' with an odd total: the extra bottom row and right column are zeros added to the input, as PyTorch does.
        let (extraH, extraW) = (sides.bottom - sides.top, sides.right - sides.left)
        let (h, wid) = (x.shape[2] + extraH, x.shape[3] + extraW)
        let problem = try cli { try Problem(n: x.shape[0], c: x.shape[1], h: h, w: wid, kh: kh, kw: kw, sh: sh, sw: sw,
                                            ph: sides.top, pw: sides.left, dh: dh, dw: dw) }
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
        let weights = try DepthwiseWeights(channels: problem.c, kh: kh, kw: kw, weight: w.values, bias: b)
        var values = x.values
        if extraH > 0 || extraW > 0 {
            let (oh, ow) = (x.shape[2], x.shape[3])
            var padded = [Float](repeating: 0, count: problem.inputCount)
            for plane in 0..<(problem.n * problem.c) {
                for y in 0..<oh {
                    for xx in 0..<ow { padded[(plane * h + y) * wid + xx] = values[(plane * oh + y) * ow + xx] }
                }
            }
            values = padded
        }
        let tensor = Tensor(nchw: values, n: problem.n, c: problem.c, h: problem.h, w: problem.w)
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
