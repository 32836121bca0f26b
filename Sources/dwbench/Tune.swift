import DWBench
import ArgumentParser
import DWCore
import DWKernels
import DWTune
import Foundation

struct Tune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tune the algorithm choice per problem and write a plan (JSON) that dwbench and other tools read.",
        discussion: """
        Modes: measure (default) times every registered candidate interleaved, drops those slower than \
        1.5× the best after a quick round and re-measures the finalists; exhaustive drops nobody; estimate \
        times nothing and ranks by the roofline cost model, using the efficiencies calibrated by a measured \
        plan given with --calibration (or rough defaults). The plan is written atomically: an interrupted \
        tune leaves the previous file intact. Schema: Sources/DWTune/plan.schema.json.
        """)

    @Option(help: "Problems: a shape file, 'replknet31b', 'replknet31b-pointwise', or comma-separated problem text forms (1×1 ones with .bf16 allow bf16); append '.bf16' to a set to allow bf16 on its 1×1 problems.")
    var shapes: String

    @OptionGroup var threadOptions: ThreadOptions

    @Option(help: "Where to write the plan.") var output: String
    @Option(help: "estimate, measure or exhaustive.") var mode: String = "measure"
    @Option(help: "Stop measuring after this many seconds; remaining problems are estimated.") var budgetSeconds: Double?
    @Option(help: "A measured plan whose calibration (efficiencies, peak, bandwidth) the estimate mode uses.")
    var calibration: String?
    @Flag(help: "Tune even in a debug build (the choices will be meaningless).") var allowDebug = false

    func validate() throws {
        guard Plan.Mode(rawValue: mode) != nil else {
            throw ValidationError("--mode must be estimate, measure or exhaustive, got '\(mode)'")
        }
        if let b = budgetSeconds, b <= 0 { throw ValidationError("--budget-seconds must be positive") }
    }

    func run() throws {
        let tuneMode = Plan.Mode(rawValue: mode)!
        // Fail before a long tune, not after it.
        try cli { try AtomicFile.requireDirectory(of: output) }
        if tuneMode != .estimate { try refuseDebugBuild(allowDebug) }
        let problems: [ConvProblem] = try cli { try ShapeFile.resolve(shapes).uniqueProblems }
        // Measuring allocates each problem's tensors; estimating does not (a plan for a larger machine).
        if tuneMode != .estimate { try requireMemory(problems) }
        let threads = threadOptions.threads
        let model: CostModel
        if let calibration {
            let source: Plan = try cli { try Plan.load(path: calibration, registry: Registry.names) }
            model = CostModel(calibration: source.calibration)
        } else {
            let speed = MachineSpeed.measure(threads: threads)
            model = CostModel(speed: speed, threads: threads)
        }
        let progress = Progress(total: problems.count)
        let start = monotonicSeconds()
        let plan = ThreadPool.with(threads: threads) { pool in
            Tuner(executor: pool, mode: tuneMode, model: model, budgetSeconds: budgetSeconds)
                .tune(problems) { done, total, problem in progress.update(done: done, label: "\(problem)") }
        }
        progress.finish()
        try cli { try plan.write(path: output) }
        let elapsed = monotonicSeconds() - start
        FileHandle.standardError.write(Data("tuned \(problems.count) problem\(problems.count == 1 ? "" : "s") in \(fmt(elapsed, 1)) s (\(mode), \(threads) thread\(threads == 1 ? "" : "s")); wrote \(output)\n".utf8))
    }
}

/// Progress on stderr: a bar with an ETA on a terminal, one plain line per step otherwise.
final class Progress {
    let total: Int
    let start = monotonicSeconds()
    let terminal = isatty(2) != 0

    init(total: Int) { self.total = total }

    func update(done: Int, label: String) {
        let elapsed = monotonicSeconds() - start
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        if terminal {
            let width = 30, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            FileHandle.standardError.write(Data("\r\u{1B}[K[\(bar)] \(done)/\(total) \(label) ETA \(fmt(eta, 0)) s".utf8))
        } else {
            FileHandle.standardError.write(Data("tune: \(done + 1)/\(total) \(label) (elapsed \(fmt(elapsed, 1)) s)\n".utf8))
        }
    }

    func finish() { if terminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) } }
}
