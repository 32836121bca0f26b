import ArgumentParser
import DWBench
import DWCore
import DWKernels
import DWTune
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time every registered algorithm on a set of problems (the default subcommand).",
        discussion: """
        For each kernel size in --sizes, runs every algorithm on N×C×H×W (default 1×384×32×32), stride 1, \
        same padding; or on the exact problems given with --shape. Times are medians of --repetitions \
        repetitions, each at least --min-time seconds, after a warm-up, with warm caches. direct-eq. \
        GFLOP/s is 2·N·C·OH·OW·K² / time whatever the algorithm does (for comparing algorithms); % peak \
        divides the FLOPs the algorithm performs by the FMA peak measured at start (a peak that measures \
        implausibly on a busy machine is replaced by threads × the one-thread peak, with a warning). Layout \
        conversions are timed separately.
        """)

    @Option(help: "Kernels, comma separated (used with the default shape): K, KHxKW (51x5), with dilation KdD (7d3) or KHxKWdDHxDW.")
    var sizes: String = "3,13,31"

    @Option(help: "Batch size N of the default shape.") var batch: Int = 1
    @Option(help: "Channels C of the default shape.") var channels: Int = 384
    @Option(help: "Height H of the default shape.") var height: Int = 32
    @Option(help: "Width W of the default shape.") var width: Int = 32
    @Option(help: "Stride of the default shape.") var stride: Int = 1

    @Option(name: .customLong("shape"), help: "An exact problem, depthwise n1c128h56w56k31s1p15 or pointwise n1c512h14w14o2048 (repeatable; replaces --sizes).")
    var shapes: [String] = []

    @Option(name: .customLong("shapes"), help: "A shape file, 'replknet31b', 'replknet31b-pointwise', or comma-separated problems (replaces --sizes); append '.bf16' to a set to allow bf16 on its 1×1 problems.")
    var shapeSet: String?

    @Option(name: .customLong("algorithms"), help: "Only these registry names, comma separated (default: all).")
    var algorithmFilter: String?

    @Option(help: "Epilogue of pointwise problems: bias (default), or bias plus relu or gelu and/or residual, joined with '+' (e.g. gelu+residual).")
    var epilogue: String = "bias"

    @OptionGroup var threadOptions: ThreadOptions

    @Option(help: "Output format: table, json or csv.")
    var format: OutputFormat = .table

    @Option(help: "Minimum seconds per repetition.") var minTime: Double = 0.05
    @Option(help: "Timed repetitions per case.") var repetitions: Int = 5
    @Option(help: "A case whose single run exceeds this many seconds is timed once and marked capped.")
    var capSeconds: Double = 1.0

    @Option(help: "A tuning plan: its choice for each problem is marked P in the table (planned: true in JSON).")
    var plan: String?
    @Flag(help: "With --plan: fail instead of falling back when the plan is foreign or lacks a problem.") var planOnly = false

    @Flag(help: "Time even in a debug build (the figures will be meaningless).")
    var allowDebug = false

    func validate() throws {
        guard repetitions >= 1 else { throw ValidationError("--repetitions must be at least 1") }
        guard minTime > 0, minTime <= 60 else { throw ValidationError("--min-time must be in (0, 60] seconds") }
        guard capSeconds > 0 else { throw ValidationError("--cap-seconds must be positive") }
        if planOnly && plan == nil { throw ValidationError("--plan-only needs --plan") }
        _ = try parseEpilogue(epilogue)
    }

    /// The requested problems, each checked to fit in memory before anything runs.
    func problems() throws -> [ConvProblem] {
        let problems = try requestedProblems()
        try requireMemory(problems)
        return problems
    }

    func requestedProblems() throws -> [ConvProblem] {
        if let shapeSet {
            return try cli { try ShapeFile.resolve(shapeSet).uniqueProblems }
        }
        if !shapes.isEmpty { return try shapes.map(parseConvProblem) }
        var result: [ConvProblem] = []
        for item in sizes.split(separator: ",", omittingEmptySubsequences: false) {
            guard let k = try? Problem.kernelForm(parsing: item.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("--sizes: '\(item)' is not a kernel (expected e.g. 3,13,31, 51x5 for 51 rows × 5 columns, 7d3 for dilation 3)")
            }
            // Padding ⌊extent / 2⌋ per axis: the same size for odd extents, as before.
            let (eh, ew) = (k.dh * (k.kh - 1) + 1, k.dw * (k.kw - 1) + 1)
            result.append(.depthwise(try cli { try Problem(n: batch, c: channels, h: height, w: width, kh: k.kh, kw: k.kw, sh: stride, sw: stride,
                                                           ph: eh / 2, pw: ew / 2, dh: k.dh, dw: k.dw) }))
        }
        return result
    }

    /// The --algorithms filter, or every registered algorithm.
    func selectedAlgorithms() throws -> [any ConvolutionAlgorithm] {
        guard let filter = algorithmFilter else { return Registry.all }
        return try filter.split(separator: ",").map { name in
            return try cli { try Registry.anyAlgorithm(named: String(name)) }
        }
    }

    func run() throws {
        try refuseDebugBuild(allowDebug)
        let problems = try problems()
        let selected = try selectedAlgorithms()
        let pointwiseEpilogue = try parseEpilogue(epilogue)
        let threads = threadOptions.threads
        let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: minTime, repetitions: repetitions, capSeconds: capSeconds)
        let peak = Peaks.measure(threads: threads, bf16: problems.contains { $0.precision == .bf16 })
        var planner: Planner?
        if let plan {
            planner = try cli { try Planner.open(path: plan, threads: threads, planOnly: planOnly) }
            if let warning = planner?.warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        }
        var all: [BenchRecord] = []
        for problem in problems {
            // Consult the plan before timing, so --plan-only fails without doing the work.
            let choice: Choice? = try cli { try planner?.choose(problem) }
            let algorithms = selected.filter { $0.kind == problem.kind }
            if algorithms.isEmpty { throw CLIError("--algorithms: none of them solves \(problem.kind) problems such as \(problem)") }
            var result = try benchmark(problem, algorithms: algorithms, threads: threads, policy: policy, peak: peak,
                                   epilogue: pointwiseEpilogue)
            let planned = choice.map { "\($0.algorithm.name) (\($0.sourceText))" }
            if let choice {
                for i in result.records.indices { result.records[i].planned = result.records[i].algorithm == choice.algorithm.name }
            }
            all += result.records
            if format == .table {
                print(renderTable(problem, result, threads: threads, peak: peak, epilogue: pointwiseEpilogue))
                if let planned { print("P = plan's choice: \(planned)") }
                print()
            }
        }
        switch format {
        case .table: break
        case .json: print(try jsonString(BenchOutput(threads: threads, peak: peak, bandwidth: MachineSpeed.bandwidthGBs(threads: threads), records: all)))
        case .csv: print(renderCSV(all))
        }
        // After the results, so that a run that fails part-way still prints its one error line.
        warnAboutPeaks(peak)
    }
}

extension Bench {
    public func benchmark(_ problem: ConvProblem, algorithms: [any ConvolutionAlgorithm], threads: Int,
                   policy: TimingPolicy, peak: Peaks, epilogue: PointwiseEpilogue) throws -> (records: [BenchRecord], raw: ProblemBenchmark) {
        let raw: ProblemBenchmark = try cli {
            try ThreadPool.with(threads: threads) { pool in
                try ProblemBenchmark.run(problem, algorithms: algorithms, executor: pool, policy: policy, epilogue: epilogue)
            }
        }
        return (records(raw, threads: threads, peak: peak), raw)
    }
}

/// Parses `--epilogue` (see `PointwiseEpilogue(parsing:)`).
func parseEpilogue(_ text: String) throws -> PointwiseEpilogue {
    do { return try PointwiseEpilogue(parsing: text) } catch { throw CLIError(error, context: "--epilogue") }
}
