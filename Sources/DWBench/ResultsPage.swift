import DWCore
import DWKernels
import Foundation

/// `dwbench report`: measures every shape set at each thread count (the same timing as `bench`), the fused
/// epilogues of the pointwise set, and writes machine.json, bench-<set>-<T>t.json and the Results page
/// (README.md with its SVG plots) into `outputDirectory`. Progress lines go to `log`.
public struct ResultsRun {
    public var outputDirectory: String
    public var threadCounts: [Int]
    public var shapeSets: [(String, ShapeFile)]
    public var peers: [BenchRecord]
    public var policy: TimingPolicy
    public var command: String

    public init(outputDirectory: String, threadCounts: [Int], shapeSets: [(String, ShapeFile)], peers: [BenchRecord],
                policy: TimingPolicy, command: String) {
        self.outputDirectory = outputDirectory
        self.threadCounts = threadCounts
        self.shapeSets = shapeSets
        self.peers = peers
        self.policy = policy
        self.command = command
    }

    public func run(log: (String) -> Void = { _ in }) throws {
        let fp = MachineFingerprint.current()
        let speed = MachineSpeed.measure(threads: ThreadPool.defaultThreads)
        try write(try jsonString(MachineReport(fingerprint: fp, speed: speed, threads: ThreadPool.defaultThreads)), "machine.json")
        var results: [Int: [String: [BenchRecord]]] = [:]
        var conversions: [String: ProblemBenchmark.Conversion] = [:]
        for t in threadCounts {
            let peak = speed.peaks(threads: t)
            for note in peak.notes { log("warning: \(note)") }
            try ThreadPool.with(threads: t) { pool in
            for (name, set) in shapeSets {
                var all: [BenchRecord] = []
                for problem in set.uniqueProblems {
                    log("report: \(threadsText(t)), \(name), \(problem)")
                    let raw = try ProblemBenchmark.run(problem, algorithms: Registry.algorithms(for: problem), executor: pool, policy: policy)
                    all += records(raw, threads: t, peak: peak)
                    if t == 1, let c = raw.conversions.first { conversions["\(problem)"] = c }
                }
                results[t, default: [:]][name] = all
                try write(try jsonString(BenchOutput(threads: t, peak: peak, bandwidth: speed.bandwidthGBs(threads: t), records: all)),
                          "bench-\(name)-\(t)t.json")
            }
            }
        }
        var epilogues: [EpilogueRecord] = []
        if let pw = shapeSets.first(where: { $0.0 == ReportWriter.pointwiseSet }) {
            for t in threadCounts {
                try ThreadPool.with(threads: t) { pool in
                for e in pw.1.entries {
                    // The layer's fastest variant of our own GEMM, with bias only and with each epilogue the model applies.
                    guard let best = ReportWriter.best(results[t]?[pw.0] ?? [], problem: "\(e.problem)", family: "gemm-simd"),
                          let algorithm = try? Registry.anyAlgorithm(named: best.algorithm) else { continue }
                    for epilogue in replknetEpilogues(problem: e.problem) {
                        log("report: epilogue \(t)t \(e.name) \(epilogue)")
                        epilogues.append(try measureEpilogue(layer: e.name, problem: e.problem, algorithm: algorithm, epilogue: epilogue,
                                                             executor: pool, policy: policy))
                    }
                }
                }
            }
            try write(try jsonString(epilogues), "bench-\(ReportWriter.pointwiseSet)-epilogues.json")
        }
        let page = ReportWriter(fingerprint: fp, speed: speed, threads: threadCounts, sets: shapeSets, results: results,
                                peers: peers, conversions: conversions, epilogues: epilogues, command: command,
                                outputDirectory: outputDirectory)
        for (file, svg) in page.plots() { try write(svg, file) }
        try write(page.render(), "README.md")
    }

    func write(_ text: String, _ name: String) throws {
        try AtomicFile.write(Data(text.utf8), to: "\(outputDirectory)/\(name)")
    }
}

/// Renders the Results page from measured records.
struct ReportWriter {
    let fingerprint: MachineFingerprint
    let speed: MachineSpeed
    let threads: [Int]
    let sets: [(String, ShapeFile)]
    let results: [Int: [String: [BenchRecord]]]
    let peers: [BenchRecord]
    let conversions: [String: ProblemBenchmark.Conversion]
    let epilogues: [EpilogueRecord]
    let command: String
    /// Where the report is written (model pages already there are linked).
    var outputDirectory = "Results"

    func records(_ set: String, _ t: Int) -> [BenchRecord] { results[t]?[set] ?? [] }

    /// The fastest timed record of `problem` among the registered algorithms of `family` (nil: any), the
    /// reference excluded. Families are the algorithms' own facts, not name prefixes.
    static func best(_ recs: [BenchRecord], problem: String, family: String? = nil) -> BenchRecord? {
        recs.filter { r in
            guard r.problem == problem, r.median_ms != nil, let a = try? Registry.anyAlgorithm(named: r.algorithm) else { return false }
            return !a.isReference && (family == nil || a.family == family)
        }.min { $0.median_ms! < $1.median_ms! }
    }

    func best(_ recs: [BenchRecord], problem: String, family: String? = nil) -> BenchRecord? {
        ReportWriter.best(recs, problem: problem, family: family)
    }

    func bestPeer(problem: String, threads t: Int) -> BenchRecord? {
        peers.filter { $0.problem == problem && $0.threads == t && $0.median_ms != nil }.min { $0.median_ms! < $1.median_ms! }
    }

    func ms(_ r: BenchRecord?) -> String { r.map { fmt($0.median_ms!, 3) } ?? "—" }

    func plots() -> [(String, String)] {
        var out: [(String, String)] = []
        if let sweep = sets.first(where: { $0.0 == "sweep" }), let t = threads.first {
            let recs = records(sweep.0, t)
            let names = Registry.algorithms.filter { !$0.isReference }.map(\.name)
            let series = names.map { name in
                SVGChart.Series(name: name, points: recs.filter { $0.algorithm == name && $0.gflops != nil }.compactMap { r in
                    (try? Problem(parsing: r.problem)).map { (Double(max($0.kh, $0.kw)), r.gflops!) }
                })
            }
            let peak = speed.peakGflops(threads: t)
            out.append(("sweep-gflops-\(t)t.svg", SVGChart.lineChart(
                title: "Direct-equivalent GFLOP/s vs kernel size, N1 C384 32×32, \(t) thread\(t == 1 ? "" : "s")",
                xLabel: "kernel size K", yLabel: "GFLOP/s (2·N·C·OH·OW·K² / time)", series: series,
                references: [("measured FMA peak \(fmt(peak, 0))", peak)])))
        }
        if let headline = sets.first(where: { $0.0 == "headline" }) {
            for t in threads {
                let problems = headline.1.entries.map { "\($0.problem)" }
                var series: [(name: String, values: [Double?])] = [
                    ("dwbench (fastest)", problems.map { p in best(records("headline", t), problem: p)?.gflops })]
                let engines = Array(Set(peers.filter { $0.threads == t }.map(\.algorithm))).sorted()
                for e in engines {
                    series.append((e, problems.map { p in peers.first { $0.problem == p && $0.threads == t && $0.algorithm == e }?.gflops }))
                }
                out.append(("headline-vs-peers-\(t)t.svg", SVGChart.barChart(
                    title: "dwbench vs peers, direct-equivalent GFLOP/s, \(t) thread\(t == 1 ? "" : "s")",
                    yLabel: "GFLOP/s", categories: headline.1.entries.map(\.name), series: series)))
            }
        }
        return out + pointwisePlots()
    }

    func render() -> String {
        var md: [String] = []
        md.append("# Results\n")
        md.append("Measured on this machine by `\(command)` (regenerate with the same command; peers with `Benchmarks/peers/run_peers.py`, see below). Times are medians of repetitions with warm caches; GFLOP/s is direct-equivalent (2·N·C·OH·OW·K² / time). Compare only within one run: the second core is shared and its speed swings.\n")
        md.append("```\n\(describeMachine(fingerprint, speed, threads: ThreadPool.defaultThreads))\n```\n")
        if let headline = sets.first(where: { $0.0 == "headline" }) {
            md.append("## Headline shapes: dwbench vs PyTorch, ONNX Runtime, OpenVINO\n")
            md.append("Target: fastest dwbench algorithm ≥ 2× the fastest peer for K ≥ 13, ≥ 1.5× for K = 3. Peers measured by `run_peers.py` in the same session with the same thread count.\n")
            for t in threads {
                md.append("### \(t) thread\(t == 1 ? "" : "s")\n")
                md.append("| layer | problem | fastest dwbench | ms | direct-simd ms | fft ms | fastest peer | ms | speed-up | target |")
                md.append("|---|---|---|---|---|---|---|---|---|---|")
                for e in headline.1.entries {
                    let p = "\(e.problem)"
                    let b = best(records("headline", t), problem: p)
                    let peer = bestPeer(problem: p, threads: t)
                    let speedup = (b?.median_ms).flatMap { bm in peer.map { $0.median_ms! / bm } }
                    let need = (e.problem.depthwise?.taps ?? 0) >= 169 ? 2.0 : 1.5
                    md.append("| \(e.name) | `\(p)` | \(b?.algorithm ?? "—") | \(ms(b)) | \(ms(best(records("headline", t), problem: p, family: "direct-simd"))) | \(ms(best(records("headline", t), problem: p, family: "fft"))) | \(peer?.algorithm ?? "—") | \(ms(peer)) | \(speedup.map { fmt($0, 2) + "×" } ?? "—") | \(speedup.map { $0 >= need ? "met (≥ \(fmt(need, 1))×)" : "**missed** (≥ \(fmt(need, 1))×)" } ?? "no peer data") |")
                }
                md.append("")
            }
            if let t = threads.first {
                md.append("### Every algorithm, \(t) thread\(t == 1 ? "" : "s") (ms / direct-equivalent GFLOP/s / relative error vs naive)\n")
                let names = Registry.names
                md.append("| problem | " + names.joined(separator: " | ") + " |")
                md.append("|---|" + String(repeating: "---|", count: names.count))
                for e in headline.1.entries {
                    let cells = names.map { n -> String in
                        guard let r = records("headline", t).first(where: { $0.problem == "\(e.problem)" && $0.algorithm == n }) else { return "—" }
                        guard let m = r.median_ms else { return "refused" }
                        return "\(fmt(m, 3)) / \(fmt(r.gflops!, 0))" + (r.relative_error.map { " / " + String(format: "%.0e", $0) } ?? "") + (r.status == "capped" ? " (1 run)" : "")
                    }
                    md.append("| `\(e.problem)` | " + cells.joined(separator: " | ") + " |")
                }
                md.append("\nDirect SIMD efficiency on one thread counts only the taps that meet real input (`Problem.usefulFlops`; the kernel skips the rest), against the measured single-core FMA peak of \(fmt(speed.peakGflopsOneCore, 0)) GFLOP/s:\n")
                md += markdownWarnings([speed.peakChoice(threads: 1, arithmetic: .fp32)?.note].compactMap { $0 })
                md.append("| problem | useful / direct-equivalent FLOPs | fastest direct-simd | ms | useful GFLOP/s | % of peak |")
                md.append("|---|---|---|---|---|---|")
                for e in headline.1.entries {
                    guard t == 1, let d = best(records("headline", 1), problem: "\(e.problem)", family: "direct-simd") else { continue }
                    let useful = e.problem.usefulFlops / d.median_ms! / 1e6
                    md.append("| `\(e.problem)` | \(fmt(100 * e.problem.usefulFlops / e.problem.flops, 0))% | \(d.algorithm) | \(ms(d)) | \(fmt(useful, 0)) | \(fmt(100 * useful / speed.peakGflopsOneCore, 0))% |")
                }
                if threads.count > 1 {
                    let (t1, t2) = (threads[0], threads[1])
                    md.append("\nThread scaling \(t1) → \(t2) (time at \(t1) / time at \(t2); the second core is shared, so this is a floor):\n")
                    md.append("| problem | fastest | direct-simd | fft |")
                    md.append("|---|---|---|---|")
                    for e in headline.1.entries {
                        let p = "\(e.problem)"
                        func ratio(_ family: String?) -> String {
                            guard let a = best(records("headline", t1), problem: p, family: family)?.median_ms,
                                  let b = best(records("headline", t2), problem: p, family: family)?.median_ms else { return "—" }
                            return fmt(a / b, 2) + "×"
                        }
                        md.append("| `\(p)` | \(ratio(nil)) | \(ratio("direct-simd")) | \(ratio("fft")) |")
                    }
                }
                md.append("\nLayout conversion (NCHW ↔ NCHW16c, timed separately, not included above; the model pass keeps activations in NCHW16c end to end):\n")
                md.append("| problem | NCHW→NCHW16c input ms | NCHW16c→NCHW output ms |")
                md.append("|---|---|---|")
                for e in headline.1.entries { if let c = conversions["\(e.problem)"] { md.append("| `\(e.problem)` | \(fmt(c.input.median * 1e3, 3)) | \(fmt(c.output.median * 1e3, 3)) |") } }
                md.append("")
            }
        }
        if let sweep = sets.first(where: { $0.0 == "sweep" }) {
            md.append("## Kernel-size sweep and the FFT crossover (N1 C384 32×32)\n")
            for t in threads {
                md.append("### \(t) thread\(t == 1 ? "" : "s")\n")
                md.append("| K | direct-simd ms (best) | fft ms (best) | implicit-gemm ms | im2col-gemm ms | winner | FFT rel. error |")
                md.append("|---|---|---|---|---|---|---|")
                var crossover: Int?
                for e in sweep.1.entries {
                    let p = "\(e.problem)"
                    let recs = records("sweep", t)
                    let d = best(recs, problem: p, family: "direct-simd"), f = best(recs, problem: p, family: "fft")
                    let fftWins = (f?.median_ms ?? .infinity) < (d?.median_ms ?? .infinity)
                    if fftWins && crossover == nil { crossover = e.problem.depthwise.map { max($0.kh, $0.kw) } }
                    md.append("| \(e.problem.depthwise.map { $0.kernelLabel } ?? "—") | \(ms(d)) | \(ms(f)) | \(ms(best(recs, problem: p, family: "implicit-gemm"))) | \(ms(best(recs, problem: p, family: "im2col-gemm"))) | \(fftWins ? "fft" : "direct") | \(f?.relative_error.map { String(format: "%.1e", $0) } ?? "—") |")
                }
                md.append("\nFirst K where the FFT beats direct SIMD on this map: \(crossover.map { "K = \($0)" } ?? "none").\n")
                md.append("![sweep](sweep-gflops-\(t)t.svg)\n")
            }
        }
        if let replk = sets.first(where: { $0.0 == "replknet31b" }) {
            md.append("## RepLKNet-31B depthwise layers (224², batch 1)\n")
            md.append("GB/s is compulsory traffic (input + weights + output once) over time: the 3×3 layers, stride 2 included, are bound by memory (compare the measured bandwidth above), the large kernels by arithmetic.\n")
            md.append("| layer | problem | count | " + threads.map { "fastest @\($0)T | ms | GB/s" }.joined(separator: " | ") + " |")
            md.append("|---|---|---|" + String(repeating: "---|---|---|", count: threads.count))
            var totals = [Double](repeating: 0, count: threads.count)
            for e in replk.1.entries {
                var cells: [String] = []
                for (i, t) in threads.enumerated() {
                    let b = best(records("replknet31b", t), problem: "\(e.problem)")
                    totals[i] += (b?.median_ms ?? 0) * Double(e.count)
                    cells.append("\(b?.algorithm ?? "—") | \(ms(b)) | \(b.map { fmt(e.problem.bytes / $0.median_ms! / 1e6, 1) } ?? "—")")
                }
                md.append("| \(e.name) | `\(e.problem)` | \(e.count) | " + cells.joined(separator: " | ") + " |")
            }
            md.append("\nAll depthwise layers of one forward pass (Σ count × fastest): " + zip(threads, totals).map { "\(fmt($1, 2)) ms at \($0) thread\($0 == 1 ? "" : "s")" }.joined(separator: ", ") + ".\n")
        }
        for t in threads where !peers.isEmpty && sets.contains(where: { $0.0 == "headline" }) { md.append("![headline vs peers, \(t) threads](headline-vs-peers-\(t)t.svg)\n") }
        md += renderPointwise(epilogues: epilogues)
        md += renderModelRuns()
        md += renderIndex()
        md.append("""
        ## Files and commands

        - `machine.json`: fingerprint and measured peak/bandwidth. `bench-<set>-<T>t.json`: every record (the `dwbench bench --format json` format).
        - Peers (not in CI; creates `Benchmarks/peers/.venv` with torch, onnxruntime, openvino from PyPI on first use):
          `python3 Benchmarks/peers/run_peers.py --shapes Benchmarks/shapes/headline.txt --threads T --output Results/peers-headline-Tt.json`
        - Google Benchmark: `.build/release/dwbench-gbench --threads=1 --benchmark_out=a.json --benchmark_out_format=json`, and
          `python3 /usr/share/benchmark/compare.py benchmarks a.json b.json` to compare two runs.

        """)
        return md.joined(separator: "\n")
    }
}
