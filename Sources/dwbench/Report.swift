import ArgumentParser
import DWCore
import DWKernels
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the shape sets and write Results/: JSON, Markdown tables and SVG plots.",
        discussion: """
        Runs every registered algorithm on each shape set at each thread count (the same timing as 'bench'), \
        writes bench-<set>-<T>t.json and machine.json, and renders README.md with the comparison against \
        the peer engines whose JSON (from Benchmarks/peers/run_peers.py) is passed with --peers.
        """)

    @Option(help: "Directory to write (created if missing).") var output: String = "Results"
    @Option(help: "Thread counts, comma separated.") var threads: String = "1,2"
    @Option(name: .customLong("sets"), help: "Shape sets: files or 'replknet31b', comma separated.")
    var sets: String = "Benchmarks/shapes/headline.txt,Benchmarks/shapes/sweep.txt,replknet31b,replknet31b-pointwise"
    @Option(name: .customLong("peers"), help: "Peer JSON files from run_peers.py (repeatable).") var peerFiles: [String] = []
    @Option(help: "Minimum seconds per repetition.") var minTime: Double = 0.05
    @Option(help: "Timed repetitions per case.") var repetitions: Int = 5
    @Option(help: "Cap for one run, seconds (slower cases are timed once).") var capSeconds: Double = 1.0
    @Flag(help: "Time even in a debug build.") var allowDebug = false

    func run() throws {
        try refuseDebugBuild(allowDebug)
        let threadCounts = try threads.split(separator: ",").map { t -> Int in
            guard let v = Int(t), (1...256).contains(v) else { throw CLIError("--threads: '\(t)' is not a thread count") }
            return v
        }
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: output, isDirectory: &isDir) {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        } else if !isDir.boolValue { throw CLIError("\(output) is not a directory") }
        let shapeSets = try sets.split(separator: ",").map { spec -> (String, ShapeFile) in
            let name = URL(fileURLWithPath: String(spec)).deletingPathExtension().lastPathComponent
            do { return (name, try ShapeFile.resolve(String(spec))) } catch { throw CLIError("\(error)") }
        }
        var peers: [BenchRecord] = []
        for file in peerFiles {
            do { peers += try JSONDecoder().decode([BenchRecord].self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw CLIError("\(file): not a peer JSON file (\(error))")
            }
        }

        let fp = MachineFingerprint.current()
        let speed = MachineSpeed.measure(threads: ThreadPool.defaultThreads)
        try write(try jsonString(MachineReport(fingerprint: fp, speed: speed, threads: ThreadPool.defaultThreads)), "machine.json")
        let policy = TimingPolicy(warmup: 1, minRepetitionSeconds: minTime, repetitions: repetitions, capSeconds: capSeconds)
        var results: [Int: [String: [BenchRecord]]] = [:]
        var conversions: [String: ProblemBenchmark.Conversion] = [:]
        for t in threadCounts {
            let peak = t == 1 ? speed.peakGflopsOneCore
                : t == ThreadPool.defaultThreads ? speed.peakGflopsAllCores : MachineSpeed.peakGflops(threads: t)
            for (name, set) in shapeSets {
                var all: [BenchRecord] = []
                for problem in set.uniqueProblems {
                    FileHandle.standardError.write(Data("report: \(t) thread\(t == 1 ? "" : "s"), \(name), \(problem)\n".utf8))
                    let raw = try ProblemBenchmark.run(problem, algorithms: Registry.algorithms(for: problem), threads: t, policy: policy)
                    all += records(raw, threads: t, peak: peak)
                    if t == 1, let c = raw.conversions.first { conversions["\(problem)"] = c }
                }
                results[t, default: [:]][name] = all
                try write(try jsonString(BenchOutput(threads: t, peak: peak, bandwidth: t == 1 ? speed.bandwidthGBsOneCore : speed.bandwidthGBsAllCores,
                                                     records: all)), "bench-\(name)-\(t)t.json")
            }
        }
        var epilogues: [EpilogueRecord] = []
        if let pw = shapeSets.first(where: { $0.0 == ReportWriter.pointwiseSet }) {
            for t in threadCounts {
                for e in pw.1.entries {
                    let recs = results[t]?[pw.0] ?? []
                    guard let best = recs.filter({ $0.problem == "\(e.problem)" && $0.algorithm.hasPrefix("gemm-simd") && $0.median_ms != nil })
                        .min(by: { $0.median_ms! < $1.median_ms! }), let algorithm = try? Registry.anyAlgorithm(named: best.algorithm) else { continue }
                    for epilogue in replknetEpilogues(layer: e.name) {
                        FileHandle.standardError.write(Data("report: epilogue \(t)t \(e.name) \(epilogue)\n".utf8))
                        do { epilogues.append(try measureEpilogue(layer: e.name, problem: e.problem, algorithm: algorithm, epilogue: epilogue,
                                                                  threads: t, policy: policy)) } catch { throw CLIError("\(error)") }
                    }
                }
            }
            try write(try jsonString(epilogues), "bench-\(ReportWriter.pointwiseSet)-epilogues.json")
        }
        let markdown = ReportWriter(fingerprint: fp, speed: speed, threads: threadCounts, sets: shapeSets, results: results,
                                    peers: peers, conversions: conversions, epilogues: epilogues,
                                    command: CommandLine.arguments.joined(separator: " "), outputDirectory: output)
        for (file, svg) in markdown.plots() { try write(svg, file) }
        try write(markdown.render(), "README.md")
        print("wrote \(output)/README.md")
    }

    func write(_ text: String, _ name: String) throws {
        do { try AtomicFile.write(Data(text.utf8), to: "\(output)/\(name)") } catch { throw CLIError("\(error)") }
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

    func best(_ recs: [BenchRecord], problem: String, prefix: String = "") -> BenchRecord? {
        recs.filter { $0.problem == problem && $0.median_ms != nil && $0.algorithm.hasPrefix(prefix) && !$0.algorithm.hasSuffix("naive") }
            .min { $0.median_ms! < $1.median_ms! }
    }

    func bestPeer(problem: String, threads t: Int) -> BenchRecord? {
        peers.filter { $0.problem == problem && $0.threads == t && $0.median_ms != nil }.min { $0.median_ms! < $1.median_ms! }
    }

    func ms(_ r: BenchRecord?) -> String { r.map { fmt($0.median_ms!, 3) } ?? "—" }

    func plots() -> [(String, String)] {
        var out: [(String, String)] = []
        if let sweep = sets.first(where: { $0.0 == "sweep" }), let t = threads.first {
            let recs = records(sweep.0, t)
            let names = Registry.algorithms.map(\.name).filter { $0 != "naive" }
            let series = names.map { name in
                SVGChart.Series(name: name, points: recs.filter { $0.algorithm == name && $0.gflops != nil }.compactMap { r in
                    (try? Problem(parsing: r.problem)).map { (Double($0.k), r.gflops!) }
                })
            }
            let peak = t == 1 ? speed.peakGflopsOneCore : speed.peakGflopsAllCores
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
                    let need = (e.problem.depthwise?.k ?? 0) >= 13 ? 2.0 : 1.5
                    md.append("| \(e.name) | `\(p)` | \(b?.algorithm ?? "—") | \(ms(b)) | \(ms(best(records("headline", t), problem: p, prefix: "direct-simd"))) | \(ms(best(records("headline", t), problem: p, prefix: "fft"))) | \(peer?.algorithm ?? "—") | \(ms(peer)) | \(speedup.map { fmt($0, 2) + "×" } ?? "—") | \(speedup.map { $0 >= need ? "met (≥ \(fmt(need, 1))×)" : "**missed** (≥ \(fmt(need, 1))×)" } ?? "no peer data") |")
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
                md.append("| problem | useful / direct-equivalent FLOPs | fastest direct-simd | ms | useful GFLOP/s | % of peak |")
                md.append("|---|---|---|---|---|---|")
                for e in headline.1.entries {
                    guard t == 1, let d = best(records("headline", 1), problem: "\(e.problem)", prefix: "direct-simd") else { continue }
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
                        func ratio(_ prefix: String) -> String {
                            guard let a = best(records("headline", t1), problem: p, prefix: prefix)?.median_ms,
                                  let b = best(records("headline", t2), problem: p, prefix: prefix)?.median_ms else { return "—" }
                            return fmt(a / b, 2) + "×"
                        }
                        md.append("| `\(p)` | \(ratio("")) | \(ratio("direct-simd")) | \(ratio("fft")) |")
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
                    let d = best(recs, problem: p, prefix: "direct-simd"), f = best(recs, problem: p, prefix: "fft")
                    let fftWins = (f?.median_ms ?? .infinity) < (d?.median_ms ?? .infinity)
                    if fftWins && crossover == nil { crossover = e.problem.depthwise?.k }
                    md.append("| \(e.problem.depthwise.map { "\($0.k)" } ?? "—") | \(ms(d)) | \(ms(f)) | \(ms(best(recs, problem: p, prefix: "implicit-gemm"))) | \(ms(best(recs, problem: p, prefix: "im2col"))) | \(fftWins ? "fft" : "direct") | \(f?.relative_error.map { String(format: "%.1e", $0) } ?? "—") |")
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
