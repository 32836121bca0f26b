import ArgumentParser
import DWBench
import DWCore
import DWKernels
import DWTune
import Foundation

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The performance-regression gate: time a fixed suite against a calibration loop and compare with a baseline.",
        discussion: """
        The suite (RepLKNet-31B's large depthwise layers, K = 3/13/31 on 384×32×32, two 1×1 layers) runs with the \
        tuner's choices. Each kernel is timed in rounds alternating with a fixed FMA calibration loop on the same \
        threads, and scored as kernel time / calibration time, so a slower or busier machine cancels out. A kernel \
        regresses when its median ratio is more than --tolerance above the baseline's and a one-sided \
        Mann–Whitney test (p < 0.01) agrees, in the first measurement and in a confirming second one (a burst of \
        other work on a shared machine passes; a real slowdown stays). --update records three times the rounds. Every output is checked against the reference; a changed tuner choice \
        is reported. Exit status 1 on a regression or a wrong output. --update rewrites the baseline atomically. \
        A baseline from another CPU model is compared for information only (status 0 unless an output is wrong).
        """)

    @Option(help: "The baseline JSON (e.g. Results/check-baseline-1t.json).") var baseline: String
    @Option(help: "Largest accepted slowdown of a median ratio (0.5 = 50%; a 2× slowdown is +100%).") var tolerance: Double = 0.5
    @Flag(help: "Measure and rewrite the baseline instead of comparing.") var update = false
    @Option(help: "Threads of the suite (1: the dedicated core).") var threads: Int = 1
    @Option(help: "Check these problems (comma separated) instead of the built-in suite; a problem the baseline lacks is reported as new.")
    var problems: String?
    @Option(help: "Alternating kernel/calibration rounds per kernel.") var rounds: Int = 15
    @Flag(help: "Run even in a debug build.") var allowDebug = false

    func validate() throws {
        guard tolerance > 0, tolerance < 10 else { throw CLIError("--tolerance must be in (0, 10), got \(tolerance)") }
        guard (1...256).contains(threads) else { throw CLIError("--threads must be between 1 and 256, got \(threads)") }
        guard (5...1000).contains(rounds) else { throw CLIError("--rounds must be in 5…1000, got \(rounds)") }
        _ = try suite()
    }

    /// --problems, or the built-in suite; each problem checked to fit in memory.
    func suite() throws -> [ConvProblem] {
        let texts = problems.map { $0.split(separator: ",").map(String.init) } ?? PerformanceGate.suite
        guard !texts.isEmpty else { throw CLIError("--problems: no problem given") }
        let suite = try texts.map(parseConvProblem)
        try requireMemory(suite)
        return suite
    }

    func run() throws {
        try refuseDebugBuild(allowDebug)
        var old: GateBaseline?
        if FileManager.default.fileExists(atPath: baseline) {
            do { old = try GateBaseline.load(path: baseline) } catch {
                if !update { throw CLIError("\(error)") }
            }
        } else if !update {
            throw CLIError("\(baseline): no such baseline; record one with --update")
        } else {
            try cli { try AtomicFile.requireDirectory(of: baseline) }
        }
        let here = MachineFingerprint.current()
        let sameMachine = old.map { $0.machine.cpuModel == here.cpuModel && $0.machine.features == here.features } ?? true
        if let old, !sameMachine {
            print("note: the baseline was recorded on \(old.machine.cpuModel) (\(old.machine.features.joined(separator: " "))); this is \(here.cpuModel): performance is compared for information only")
        }
        if let old, old.threads != threads { throw CLIError("\(baseline) was recorded at \(old.threads) thread(s); run with --threads \(old.threads)") }

        // The tuner's choices for the suite (measure mode, quick).
        let problems = try suite()
        let speed = MachineSpeed.measure(threads: threads)
        let tuned = Tuner(threads: threads, mode: .measure, model: CostModel(speed: speed, threads: threads)).tune(problems)
        // A baseline spans three times the rounds, so that it averages over more of the machine's moods.
        let gate = PerformanceGate(threads: threads, rounds: update ? 3 * rounds : rounds)
        let choices = tuned.entries.mapValues(\.algorithm)
        let outcome: PerformanceGate.Outcome
        do {
            outcome = try gate.run(problems, choices: choices, baseline: update ? nil : old, previous: old, tolerance: tolerance,
                                   sameMachine: sameMachine) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        } catch { throw CLIError("\(baseline): \(error)") }
        let (entries, rows, notes, regressions, wrong) = (outcome.entries, outcome.rows, outcome.notes, outcome.regressions, outcome.wrong)
        print(formatColumns(rows, rightAligned: [2, 3, 4, 5]))
        print("ratio = kernel time / calibration-loop time (median of \(rounds) alternating rounds, \(threads) thread\(threads == 1 ? "" : "s")); regression: change > \(fmt(tolerance * 100, 0))% and one-sided Mann–Whitney p < 0.01")
        for n in notes { print(n) }
        if update {
            let record = GateBaseline(created: ISO8601DateFormatter().string(from: Date()), machine: here,
                                      build: BuildSignature.current(registryNames: Registry.names), threads: threads, entries: entries)
            try cli { try AtomicFile.write(try record.encoded(), to: baseline) }
            print("wrote \(baseline)")
        }
        if wrong > 0 || regressions > 0 {
            print("FAILED: \(regressions) regression\(regressions == 1 ? "" : "s"), \(wrong) wrong output\(wrong == 1 ? "" : "s")")
            throw ExitCode.failure
        }
        print(update ? "baseline recorded" : "passed: no regression beyond \(fmt(tolerance * 100, 0))%, all outputs correct")
    }
}
