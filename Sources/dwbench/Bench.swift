import ArgumentParser
import DWCore
import DWKernels
import DWTune
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time every registered algorithm on a set of problems (the default subcommand).",
        discussion: """
        For each kernel size in --sizes, runs every algorithm on N×C×H×W (default 1×384×32×32), stride 1,
        same padding; or on the exact problems given with --shape. Times are medians of --repetitions
        repetitions, each at least --min-time seconds, after a warm-up, with warm caches. GFLOP/s is
        direct-equivalent: 2·N·C·OH·OW·K² / time. Layout conversions are timed separately.
        """)

    @Option(help: "Kernel sizes, comma separated (used with the default shape).")
    var sizes: String = "3,13,31"

    @Option(help: "Batch size N of the default shape.") var batch: Int = 1
    @Option(help: "Channels C of the default shape.") var channels: Int = 384
    @Option(help: "Height H of the default shape.") var height: Int = 32
    @Option(help: "Width W of the default shape.") var width: Int = 32
    @Option(help: "Stride of the default shape.") var stride: Int = 1

    @Option(name: .customLong("shape"), help: "An exact problem such as n1c128h56w56k31s1p15 (repeatable; replaces --sizes).")
    var shapes: [String] = []

    @Option(name: .customLong("shapes"), help: "A shape file, 'replknet31b', or comma-separated problems (replaces --sizes).")
    var shapeSet: String?

    @Option(name: .customLong("algorithms"), help: "Only these registry names, comma separated (default: all).")
    var algorithmFilter: String?

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
    }

    func problems() throws -> [Problem] {
        if let shapeSet {
            do { return try ShapeFile.resolve(shapeSet).uniqueProblems } catch { throw CLIError("\(error)") }
        }
        if !shapes.isEmpty { return try shapes.map(parseProblem) }
        var result: [Problem] = []
        for item in sizes.split(separator: ",", omittingEmptySubsequences: false) {
            guard let k = Int(item.trimmingCharacters(in: .whitespaces)) else {
                throw CLIError("--sizes: '\(item)' is not a kernel size (expected e.g. 3,13,31)")
            }
            do {
                result.append(try Problem(n: batch, c: channels, h: height, w: width, k: k, s: stride, p: Problem.samePadding(k)))
            } catch { throw CLIError("\(error)") }
        }
        return result
    }

    func selectedAlgorithms() throws -> [any DepthwiseAlgorithm] {
        guard let filter = algorithmFilter else { return Registry.algorithms }
        return try filter.split(separator: ",").map { name in
            do { return try Registry.algorithm(named: String(name)) } catch { throw CLIError("\(error)") }
        }
    }

    func run() throws {
        try refuseDebugBuild(allowDebug)
        let problems = try problems()
        let algorithms = try selectedAlgorithms()
        let threads = threadOptions.threads
        let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: minTime, repetitions: repetitions, capSeconds: capSeconds)
        let peak = MachineSpeed.peakGflops(threads: threads)
        var chooser: PlanChooser?
        if let plan {
            do { chooser = try PlanChooser.open(path: plan, threads: threads, planOnly: planOnly) } catch { throw CLIError("\(error)") }
            if let warning = chooser?.warning { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
        }
        var all: [BenchRecord] = []
        for problem in problems {
            // Consult the plan before timing, so --plan-only fails without doing the work.
            let choice: (algorithm: any DepthwiseAlgorithm, source: String)?
            do { choice = try chooser?.choose(problem) } catch { throw CLIError("\(error)") }
            var result = benchmark(problem, algorithms: algorithms, threads: threads, policy: policy, peak: peak)
            let planned = choice.map { "\($0.algorithm.name) (\($0.source))" }
            if let choice {
                for i in result.records.indices { result.records[i].planned = result.records[i].algorithm == choice.algorithm.name }
            }
            all += result.records
            if format == .table {
                print(renderTable(problem, result, threads: threads, peak: peak))
                if let planned { print("P = plan's choice: \(planned)") }
                print()
            }
        }
        switch format {
        case .table: break
        case .json: print(try jsonString(all))
        case .csv: print(renderCSV(all))
        }
    }
}
