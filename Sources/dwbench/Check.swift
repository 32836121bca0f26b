import ArgumentParser
import DWBench
import DWCore
import DWKernels
import DWTune
import Foundation

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The performance-regression gate: this build against a baseline revision (A/B), or against stored calibration ratios.",
        discussion: """
        A/B mode (--against REV, what CI runs; the revision is in .ci/gate-baseline, moved with --accept \
        --reason): REV is built into --scratch and both builds time the suite on this machine, interleaved round \
        by round through `check --emit-samples` (protocol 1), with the same threads and seeded inputs. The suite is \
        RepLKNet-31B's large depthwise layers, K = 3/13/31 on 384×32×32, two 1×1 layers (the tuner's choices) and \
        the whole RepLKNet-31B at 64². Per item: candidate/baseline time (Hodges–Lehmann, 99% interval) and a \
        one-sided Mann–Whitney p; a regression is a ratio above 1 + --tolerance (default 0.1) with p < 0.01, \
        confirmed by a second measurement. Exit status 1 on a regression or a wrong output, 3 when REV cannot be \
        built or predates protocol 1.

        Calibration-ratio mode (--baseline FILE): each kernel is timed in rounds alternating with a fixed FMA \
        calibration loop and scored as kernel time / calibration time; a kernel regresses when its median ratio is \
        more than --tolerance (default 0.5) above the baseline's and the rank test agrees, twice. --update records \
        the baseline (three times the rounds). A baseline from another CPU model is compared for information only.
        """)

    @Option(help: "The baseline JSON of the calibration-ratio mode (e.g. Results/check-baseline-1t.json).") var baseline: String?
    @Option(help: "A/B mode: build this git revision (release, into --scratch) and compare this build with it, interleaved on this machine.")
    var against: String?
    @Option(help: "A/B mode with an already built baseline dwbench instead of --against.") var againstBinary: String?
    @Option(help: "Where --against builds revisions (one directory per commit, reused).") var scratch: String = ".build/gate"
    @Flag(help: "Record HEAD as the A/B baseline revision in .ci/gate-baseline, with --reason.") var accept = false
    @Option(help: "Why the baseline moves (with --accept).") var reason: String?
    @Flag(help: "Protocol 1 for the A/B gate: time one --problems item with --algorithm and print its samples as JSON.")
    var emitSamples = false
    @Option(help: "With --emit-samples: the registry name to time (omit for a model:31B@R item).") var algorithm: String?
    @Option(help: "With --emit-samples: timed repetitions.") var repetitions: Int = 3
    @Option(help: "With --emit-samples: stretch every timed run by this factor (gate detection evidence only).") var injectSlowdown: Double = 1
    @Option(help: "Largest accepted slowdown (0.5 = 50%; a 2× slowdown is +100%). Default: 0.5 with --baseline, 0.1 in A/B mode.")
    var tolerance: Double?
    @Option(help: "A/B mode: interleaved rounds per kernel (each runs both builds).") var abRounds: Int = 6
    @Flag(help: "Measure and rewrite the baseline instead of comparing.") var update = false
    @Option(help: "Threads of the suite (1: the dedicated core).") var threads: Int = 1
    @Option(help: "Check these problems (comma separated) instead of the built-in suite; a problem the baseline lacks is reported as new.")
    var problems: String?
    @Option(help: "Alternating kernel/calibration rounds per kernel.") var rounds: Int = 15
    @Flag(help: "Run even in a debug build.") var allowDebug = false

    func validate() throws {
        guard repetitions >= 1, repetitions <= 1000 else { throw CLIError("--repetitions must be in 1…1000, got \(repetitions)") }
        guard injectSlowdown >= 1, injectSlowdown <= 10 else { throw CLIError("--inject-slowdown must be in [1, 10], got \(injectSlowdown)") }
        if emitSamples || accept { return }
        if baseline == nil && against == nil && againstBinary == nil {
            throw CLIError("give --baseline FILE (calibration ratios), --against REV or --against-binary PATH (A/B)")
        }
        if let tolerance, !(tolerance > 0 && tolerance < 10) { throw CLIError("--tolerance must be in (0, 10), got \(tolerance)") }
        guard (2...100).contains(abRounds) else { throw CLIError("--ab-rounds must be in 2…100, got \(abRounds)") }
        guard (1...ThreadPool.maxThreads).contains(threads) else { throw CLIError("--threads must be between 1 and \(ThreadPool.maxThreads), got \(threads)") }
        guard (5...1000).contains(rounds) else { throw CLIError("--rounds must be in 5…1000, got \(rounds)") }
        _ = try suite()
    }

    /// --problems, or the built-in suite; each problem checked to fit in memory.
    func suite() throws -> [ConvProblem] {
        let texts = (problems.map { $0.split(separator: ",").map(String.init) } ?? PerformanceGate.suite).filter { GateSamples.modelItem($0) == nil }
        guard !texts.isEmpty || problems != nil else { throw CLIError("--problems: no problem given") }
        let suite = try texts.map(parseConvProblem)
        try requireMemory(suite)
        return suite
    }

    func run() throws {
        if emitSamples { return try emit() }
        if accept { return try acceptHead() }
        try refuseDebugBuild(allowDebug)
        if against != nil || againstBinary != nil { return try runAgainst() }
        guard let baseline else { throw CLIError("--baseline is required") }
        let tolerance = self.tolerance ?? 0.5
        var old: GateBaseline?
        if FileManager.default.fileExists(atPath: baseline) {
            do { old = try GateBaseline.load(path: baseline) } catch {
                if !update { throw CLIError(error) }
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

        let gate = PerformanceGate(threads: threads, rounds: rounds)
        let outcome = try cli {
            try gate.check(try suite(), baseline: old, path: baseline, update: update, tolerance: tolerance, sameMachine: sameMachine) {
                FileHandle.standardError.write(Data(($0 + "\n").utf8))
            }
        }
        print(outcome.text)
        if outcome.failed { throw ExitCode.failure }
    }

    /// Protocol 1: one item's samples as JSON on stdout.
    func emit() throws {
        let items = problems.map { $0.split(separator: ",").map(String.init) } ?? []
        guard items.count == 1 else { throw CLIError("--emit-samples times exactly one --problems item") }
        print(try cli { try GateSamples.emit(items[0], algorithm: algorithm, threads: threads, repetitions: repetitions, slowdown: injectSlowdown) })
    }

    /// --accept: HEAD becomes the A/B baseline revision, with the reason, in .ci/gate-baseline.
    func acceptHead() throws {
        print(try cli { try RevisionBuild.accept(reason: reason ?? "", file: ".ci/gate-baseline") })
    }

    /// A/B mode: this build against a revision's (exit 3 when there is none to compare with).
    func runAgainst() throws {
        let log: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        do {
            var gate = try ABGate.against(revision: against, binary: againstBinary, scratch: scratch, threads: threads,
                                          tolerance: tolerance ?? 0.1, log: log)
            gate.candidateSlowdown = injectSlowdown
            gate.rounds = abRounds
            let items = (problems.map { $0.split(separator: ",").map(String.init) } ?? PerformanceGate.suite + ["model:31B@64"])
            let outcome = try gate.check(items: items, log: log)
            print(outcome.text)
            if outcome.failed { throw ExitCode.failure }
        } catch let e as ABGate.Unavailable {
            log("Error: \(e.description)")
            throw ExitCode(3)
        } catch let e as ExitCode {
            throw e
        } catch { throw CLIError(error) }
    }
}
