import DWCore
import DWKernels
import DWModel
import DWTune
import Foundation

/// The A/B regression gate (`dwbench check --against REV`): the baseline is a revision, built and run on the
/// same machine in the same job as the candidate, interleaved kernel by kernel, so no stored timing has to
/// transfer across CPU models.
///
/// Both sides are driven through one small, stable interface, protocol 1 (`GateSamples`):
///
///     dwbench check --emit-samples --problems P --algorithm NAME --threads T --repetitions R
///
/// prints one JSON object: {"protocol": 1, "problem", "algorithm", "threads", "seconds": [R per-run times],
/// "relative_error"}. `P` may also be `model:31B@64` (the whole RepLKNet-31B at resolution 64, seeded
/// weights, the heuristic's choices; algorithm `model`). Future revisions keep this interface so that any two
/// stay comparable.
public enum GateSamples {
    public static let protocolVersion = 1

    public struct Report: Codable, Sendable {
        public var `protocol`: Int
        public var problem: String
        public var algorithm: String
        public var threads: Int
        public var seconds: [Double]
        public var relative_error: Double
    }

    /// `check --emit-samples`: the JSON line of one item (algorithm `model` for a model item).
    public static func emit(_ item: String, algorithm: String?, threads: Int, repetitions: Int, slowdown: Double) throws -> String {
        guard let name = algorithm ?? (modelItem(item) != nil ? "model" : nil) else {
            throw ABGate.GateError(description: "--emit-samples needs --algorithm for \(item)")
        }
        let report = try measure(item, algorithm: name, threads: threads, repetitions: repetitions, slowdown: slowdown)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(report), as: UTF8.self)
    }

    /// A whole-model item of the suite: `model:<config>@<resolution>`.
    public static func modelItem(_ text: String) -> (config: RepLKNetConfig, resolution: Int)? {
        guard text.hasPrefix("model:") else { return nil }
        let parts = text.dropFirst(6).split(separator: "@")
        guard parts.count == 2, let config = RepLKNetConfig.named(String(parts[0])), let r = Int(parts[1]) else { return nil }
        return (config, r)
    }

    /// Times `repetitions` runs of `algorithm` on `problem` (seeded data, one warm-up, each repetition grown to at
    /// least `minSeconds`), after checking its output against the reference. `slowdown` > 1 stretches every timed
    /// run by busy-waiting (for the gate's detection evidence only).
    public static func measure(_ item: String, algorithm name: String, threads: Int, repetitions: Int, minSeconds: Double = 0.004,
                               slowdown: Double = 1) throws -> Report {
        let run: () -> Void
        var error = 0.0
        let pool = ThreadPool(threads: threads)
        defer { pool.shutdown() }
        if let model = modelItem(item) {
            let net = try DeployedRepLKNet(Checkpoint.random(model.config, seed: 3))
            let m = try RepLKNetModel(net, batch: 1, resolution: model.resolution, executor: pool, planner: .heuristic)
            var rng = SeededGenerator(seed: 4)
            let image = rng.signedArray(model.config.inChannels * model.resolution * model.resolution)
            run = { _ = m.run(image) }
        } else {
            let problem = try ConvProblem(parsing: item)
            let algorithm = try Registry.anyAlgorithm(named: name)
            let data = try TrialData(problem, seed: 3)
            let trial = try algorithm.trial(data, executor: pool)
            trial.run()
            let reference = try Registry.reference(for: problem).trial(data, executor: pool)
            reference.run()
            error = relativeError(trial.output(), reference.output())
            run = trial.run
        }
        let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: minSeconds, repetitions: 1, capSeconds: 5)
        let t0 = monotonicSeconds()
        run()
        let iterations = Timing.iterationCount(policy, firstRunSeconds: monotonicSeconds() - t0, run)
        var seconds: [Double] = []
        for _ in 0..<repetitions {
            let start = monotonicSeconds()
            for _ in 0..<iterations { run() }
            var elapsed = monotonicSeconds() - start
            if slowdown > 1 {
                let until = start + elapsed * slowdown
                while monotonicSeconds() < until {}
                elapsed = monotonicSeconds() - start
            }
            seconds.append(elapsed / Double(iterations))
        }
        return Report(protocol: protocolVersion, problem: item, algorithm: name, threads: threads, seconds: seconds, relative_error: error)
    }
}

/// Statistics of two samples of times: the candidate/baseline ratio as the Hodges–Lehmann estimate of the
/// shift of log time (the median of all pairwise log-ratios) with its distribution-free confidence interval
/// (order statistics of the pairwise differences from the Mann–Whitney distribution), and the one-sided
/// rank-test p-value that the candidate is slower.
public enum ABStatistics {
    public struct Comparison: Sendable, Equatable {
        public var ratio: Double
        public var low: Double
        public var high: Double
        public var p: Double
    }

    public static func compare(baseline a: [Double], candidate b: [Double], confidence: Double = 0.99) -> Comparison {
        let la = a.map(log), lb = b.map(log)
        var diffs: [Double] = []
        diffs.reserveCapacity(la.count * lb.count)
        for x in lb { for y in la { diffs.append(x - y) } }
        diffs.sort()
        let n1 = Double(la.count), n2 = Double(lb.count)
        let m = diffs.count
        let estimate = m % 2 == 1 ? diffs[m / 2] : (diffs[m / 2 - 1] + diffs[m / 2]) / 2
        // k-th smallest and largest pairwise differences bound the interval (normal approximation of U).
        let z = normalQuantile(1 - (1 - confidence) / 2)
        let k = max(0, Int((n1 * n2 / 2 - z * (n1 * n2 * (n1 + n2 + 1) / 12).squareRoot()).rounded(.down)))
        let lo = diffs[min(k, m - 1)], hi = diffs[max(0, m - 1 - k)]
        return Comparison(ratio: exp(estimate), low: exp(lo), high: exp(hi), p: PerformanceGate.mannWhitneyGreater(b, a))
    }

    /// Φ⁻¹(p) by bisection on erfc (enough digits for a confidence bound).
    static func normalQuantile(_ p: Double) -> Double {
        var lo = -10.0, hi = 10.0
        for _ in 0..<100 {
            let mid = (lo + hi) / 2
            if 0.5 * erfc(-mid / 2.0.squareRoot()) < p { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }
}

/// Drives two dwbench executables through protocol 1, interleaved.
public struct ABGate {
    public var baseline: String
    public var candidate: String
    public var threads: Int
    public var tolerance: Double
    /// Alternating rounds per kernel; each round runs both sides once (order swapped every round).
    public var rounds = 6
    /// Timed repetitions per side and round.
    public var repetitions = 3
    public var alpha = 0.01
    /// For evidence only: passed to the candidate as `--inject-slowdown`.
    public var candidateSlowdown: Double = 1

    public init(baseline: String, candidate: String, threads: Int, tolerance: Double) {
        self.baseline = baseline
        self.candidate = candidate
        self.threads = threads
        self.tolerance = tolerance
    }

    public struct GateError: Error, CustomStringConvertible {
        public let description: String
        /// The executable does not know protocol 1 (a revision older than the A/B gate).
        public var predatesProtocol = false
    }

    public struct KernelResult: Sendable {
        public var item: String
        public var algorithm: String
        /// What the baseline ran: the same algorithm, or, when the baseline build does not have it (an algorithm
        /// new in the candidate), the baseline's own tuned choice for the problem.
        public var baselineAlgorithm: String
        public var comparison: ABStatistics.Comparison
        /// The confirming measurement's comparison, when the first one looked like a regression.
        public var confirmation: ABStatistics.Comparison?
        public var candidateError: Double
        public var regression: Bool
        public var improvement: Bool
    }

    /// One protocol-1 call of `executable`; a crash, a timeout or output that is not a protocol-1 report is an
    /// error naming the executable and what it printed.
    public func samples(_ executable: String, item: String, algorithm: String, slowdown: Double = 1) throws -> GateSamples.Report {
        var args = ["check", "--emit-samples", "--problems", item, "--algorithm", algorithm, "--threads", "\(threads)",
                    "--repetitions", "\(repetitions)"]
        if slowdown > 1 { args += ["--inject-slowdown", "\(slowdown)"] }
        let result: Subprocess.Result
        do { result = try Subprocess.run(executable, args) } catch { throw GateError(description: "\(executable): cannot run it (\(error))") }
        let (stdout, stderr) = (result.stdout, result.stderr)
        let firstLine = { (d: Data) in String(decoding: d, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? "" }
        guard result.succeeded else {
            let text = String(decoding: stderr, as: UTF8.self)
            if text.contains("--emit-samples") && text.lowercased().contains("unknown option") {
                throw GateError(description: "\(executable) predates the A/B gate's interface (check --emit-samples, protocol \(GateSamples.protocolVersion))",
                                predatesProtocol: true)
            }
            throw GateError(description: "\(executable) \(result.failure) on \(item): \(firstLine(stderr).prefix(200))")
        }
        guard let report = try? JSONDecoder().decode(GateSamples.Report.self, from: stdout) else {
            throw GateError(description: "\(executable) printed no protocol-1 sample report for \(item) (first line: '\(firstLine(stdout).prefix(120))')")
        }
        guard report.protocol == GateSamples.protocolVersion, report.problem == item, report.algorithm == algorithm,
              report.seconds.count == repetitions, report.seconds.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw GateError(description: "\(executable) answered protocol \(report.protocol) for \(report.problem)/\(report.algorithm) with \(report.seconds.count) samples; expected protocol \(GateSamples.protocolVersion), \(item)/\(algorithm), \(repetitions) positive samples")
        }
        return report
    }

    /// `rounds` interleaved rounds: A then B, then B then A, …
    func measure(item: String, algorithm: String, baselineAlgorithm: String) throws -> (a: [Double], b: [Double], error: Double) {
        var a: [Double] = [], b: [Double] = []
        var error = 0.0
        for round in 0..<rounds {
            let order = round % 2 == 0 ? [false, true] : [true, false]
            for isCandidate in order {
                if isCandidate {
                    let r = try samples(candidate, item: item, algorithm: algorithm, slowdown: candidateSlowdown)
                    b += r.seconds
                    error = max(error, r.relative_error)
                } else {
                    a += try samples(baseline, item: item, algorithm: baselineAlgorithm).seconds
                }
            }
        }
        return (a, b, error)
    }

    /// Every kernel: the ratio candidate/baseline with its interval and p-value; a regression (ratio above
    /// 1 + tolerance and significant) must be confirmed by a second, independent measurement. `substitutes`
    /// names, per item, what the baseline runs instead of an algorithm it does not have.
    public func run(_ kernels: [(item: String, algorithm: String)], substitutes: [String: String] = [:],
                    log: (String) -> Void = { _ in }) throws -> [KernelResult] {
        var results: [KernelResult] = []
        for (item, algorithm) in kernels {
            let theirs = substitutes[item] ?? algorithm
            log("check --against: \(item) \(algorithm)" + (theirs == algorithm ? "" : " (baseline: \(theirs))"))
            let first = try measure(item: item, algorithm: algorithm, baselineAlgorithm: theirs)
            let c = ABStatistics.compare(baseline: first.a, candidate: first.b)
            let looksSlower = c.ratio > 1 + tolerance && c.p < alpha
            var confirmation: ABStatistics.Comparison?
            if looksSlower {
                log("check --against: \(item) looks slower (\(fmt(c.ratio, 2))×); measuring again to confirm")
                let again = try measure(item: item, algorithm: algorithm, baselineAlgorithm: theirs)
                confirmation = ABStatistics.compare(baseline: again.a, candidate: again.b)
            }
            let regression = looksSlower && confirmation.map { $0.ratio > 1 + tolerance && $0.p < alpha } == true
            let improvement = c.ratio < 1 / (1 + tolerance) && PerformanceGate.mannWhitneyGreater(first.a, first.b) < alpha
            results.append(KernelResult(item: item, algorithm: algorithm, baselineAlgorithm: theirs, comparison: c, confirmation: confirmation,
                                        candidateError: first.error, regression: regression, improvement: improvement))
        }
        return results
    }

    /// No baseline to compare with: the revision does not build, or predates protocol 1 (`check` exits 3).
    public struct Unavailable: Error, CustomStringConvertible { public let description: String }

    /// The gate for `check --against REV` (built into `scratch`) or an already built baseline `binary`; the
    /// candidate is the running executable.
    public static func against(revision: String?, binary: String?, scratch: String, threads: Int, tolerance: Double,
                               log: (String) -> Void) throws -> ABGate {
        let baseline: String
        if let binary {
            baseline = binary
        } else {
            do {
                let built = try RevisionBuild.dwbench(revision: revision ?? "HEAD", repository: ".", scratch: scratch, log: log)
                log("check --against: baseline \(revision ?? "HEAD") = \(built.commit)")
                baseline = built.path
            } catch { throw Unavailable(description: "\(error)") }
        }
        let candidate = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return ABGate(baseline: baseline, candidate: candidate, threads: threads, tolerance: tolerance)
    }

    /// Runs the items (problems get the tuner's choice, made once by the candidate; `model:` items the
    /// model) and renders the table and the verdict.
    public func check(items: [String], log: (String) -> Void) throws -> (text: String, failed: Bool) {
        let problems = try items.filter { GateSamples.modelItem($0) == nil }.map { try ConvProblem(parsing: $0) }
        let choices = PerformanceGate.tunedChoices(problems, threads: threads)
        let kernels = items.map { item in (item: item, algorithm: GateSamples.modelItem(item) != nil ? "model" : choices[item]!) }
        // A choice the baseline build does not have (an algorithm added since) is compared with the best the
        // baseline has for that problem: the problem must not get slower, whatever runs it.
        let known = try baselineRegistry()
        let missing = problems.filter { !known.contains(choices["\($0)"]!) }
        let theirs = missing.isEmpty ? [:] : PerformanceGate.tunedChoices(missing, threads: threads, among: Registry.all.filter { known.contains($0.name) })
        let t0 = monotonicSeconds()
        let results: [KernelResult]
        do { results = try run(kernels, substitutes: theirs, log: log) } catch let e as GateError where e.predatesProtocol {
            throw Unavailable(description: "\(e.description); use --baseline FILE (the calibration ratios) for such a revision")
        }
        let bound = { (name: String) in (try? Registry.anyAlgorithm(named: name))?.errorBound ?? 1e-5 }
        let regressions = results.filter(\.regression).count, wrong = results.filter { $0.candidateError > bound($0.algorithm) }.count
        var lines = [ABGate.table(results, errorBound: bound),
                     "ratio = candidate time / baseline time, Hodges–Lehmann over \(rounds) interleaved rounds of \(repetitions) runs per side (\(threadsText(threads))), 99% interval; regression: ratio > \(fmt(1 + tolerance, 2)) and one-sided Mann–Whitney p < 0.01, confirmed by a second measurement; \(fmt(monotonicSeconds() - t0, 0)) s"]
        if regressions > 0 || wrong > 0 {
            lines.append("FAILED: \(regressions) regression\(regressions == 1 ? "" : "s"), \(wrong) wrong output\(wrong == 1 ? "" : "s")")
        } else {
            lines.append("passed: no regression beyond \(fmt(tolerance * 100, 0))% against the baseline build, all outputs correct")
        }
        return (lines.joined(separator: "\n"), regressions > 0 || wrong > 0)
    }

    /// The baseline build's registry names (`dwbench algorithms`, one per line).
    func baselineRegistry() throws -> Set<String> {
        let result: Subprocess.Result
        do { result = try Subprocess.run(baseline, ["algorithms"]) } catch { throw GateError(description: "\(baseline): cannot run it (\(error))") }
        guard result.succeeded else { throw GateError(description: "\(baseline) algorithms: \(result.failure)") }
        return Set(String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// The table `check --against` prints.
    public static func table(_ results: [KernelResult], errorBound: (String) -> Double) -> String {
        var rows = [["problem", "algorithm", "candidate / baseline", "99% interval", "p", "verdict"]]
        for r in results {
            let c = r.confirmation ?? r.comparison
            var verdict = r.regression ? "REGRESSION" : r.improvement ? "faster" : "ok"
            if r.confirmation != nil && !r.regression { verdict = "ok (first measurement \(fmt(r.comparison.ratio, 2))×, not confirmed)" }
            if r.candidateError > errorBound(r.algorithm) { verdict = "WRONG OUTPUT (rel. error \(String(format: "%.1e", r.candidateError)))" }
            let name = r.algorithm + (r.baselineAlgorithm == r.algorithm ? "" : " (new; baseline ran \(r.baselineAlgorithm))")
            rows.append([r.item, name, fmt(c.ratio, 3) + "×", "\(fmt(c.low, 3))–\(fmt(c.high, 3))", String(format: "%.3f", c.p), verdict])
        }
        return formatColumns(rows, rightAligned: [2, 3, 4])
    }
}

/// Builds a git revision's `dwbench` (release, the same flags: its own Package.swift) into a scratch directory
/// kept per commit, so a second gate run on the same baseline reuses it.
public enum RevisionBuild {
    public struct BuildError: Error, CustomStringConvertible { public let description: String }

    static func git(_ args: [String], in repo: String) throws -> String {
        let r = try Subprocess.run("/usr/bin/env", ["git", "-C", repo] + args)
        guard r.succeeded else { throw BuildError(description: "git \(args.joined(separator: " ")) failed in \(repo)") }
        return String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `check --accept`: records HEAD and the reason in `file` (atomically); moving the baseline needs a reason.
    public static func accept(reason: String, file: String) throws -> String {
        guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw BuildError(description: "--accept needs --reason: moving the baseline is a reviewed act")
        }
        let head = try git(["rev-parse", "HEAD"], in: ".")
        try AtomicFile.write(Data("\(head)\n\(reason)\n".utf8), to: file)
        return "A/B baseline is now \(head) (\(file)): \(reason)"
    }

    /// The path of REV's release `dwbench`, building it first if needed (progress on `log`).
    public static func dwbench(revision: String, repository: String, scratch: String, log: (String) -> Void) throws -> (commit: String, path: String) {
        guard let commit = try? git(["rev-parse", "--verify", "\(revision)^{commit}"], in: repository) else {
            throw BuildError(description: "\(revision) is not a commit of \(repository)")
        }
        let root = "\(scratch)/\(commit)"
        let binary = "\(root)/build/release/dwbench"
        if FileManager.default.isExecutableFile(atPath: binary) { return (commit, binary) }
        try? FileManager.default.removeItem(atPath: "\(root)/src")
        try FileManager.default.createDirectory(atPath: "\(root)/src", withIntermediateDirectories: true)
        // The tree of REV, without touching the working copy: git archive | tar.
        let archive = try Subprocess.run("/bin/sh", ["-c", "git -C \"$1\" archive \"$2\" | tar -x -C \"$3\"", "sh", repository, commit, "\(root)/src"])
        guard archive.succeeded else { throw BuildError(description: "cannot extract \(commit) from \(repository)") }
        log("check --against: building \(commit.prefix(12)) (release) in \(root)")
        let build = try Subprocess.run("/usr/bin/env", ["swift", "build", "-c", "release", "--product", "dwbench", "--package-path", "\(root)/src",
                                                        "--scratch-path", "\(root)/build"])
        guard build.succeeded, FileManager.default.isExecutableFile(atPath: binary) else {
            let output = String(decoding: build.stderr + build.stdout, as: UTF8.self)
            let line = output.split(separator: "\n").first(where: { $0.contains("error") }) ?? ""
            throw BuildError(description: "building \(commit.prefix(12)) failed: \(line.prefix(200))")
        }
        return (commit, binary)
    }
}

/// Runs a program to completion and captures what it printed. Both pipes are drained at once (stderr on a
/// second thread), so a child that fills one while the other is being read cannot block.
enum Subprocess {
    struct Result {
        var status: Int32
        var signalled: Bool
        var stdout: Data
        var stderr: Data
        var succeeded: Bool { !signalled && status == 0 }
        /// "exited with status N" or "was killed by signal N".
        var failure: String { signalled ? "was killed by signal \(status)" : "exited with status \(status)" }
    }

    private final class Drain: @unchecked Sendable {
        var data = Data()
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let drain = Drain(), done = DispatchSemaphore(value: 0)
        let errHandle = err.fileHandleForReading
        Thread.detachNewThread {
            drain.data = errHandle.readDataToEndOfFile()
            done.signal()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal, stdout: stdout, stderr: drain.data)
    }
}
