import DWCore
import DWKernels
import DWModel
import DWTune
import Foundation

/// The pointwise (1×1) part of `dwbench report`: our GEMM against OpenBLAS and oneDNN on RepLKNet-31B's
/// 1×1 layers, and the cost of each layer's fused epilogue.

/// The epilogues RepLKNet-31B applies after the layers that compute `problem` (at 224², the problem's batch),
/// in layer order, from the layer list: ReLU after a RepLK block's pw1, the residual after pw2, GELU after
/// a ConvFFN's pw1, ReLU after the stem and transition 1×1s.
public func replknetEpilogues(problem: ConvProblem) -> [PointwiseEpilogue] {
    guard let layers = try? RepLKNetConfig.b31.layers(resolution: 224) else { return [] }
    var out: [PointwiseEpilogue] = []
    for layer in layers where (try? layer.problem(batch: problem.inputShape.n)) == problem && !out.contains(layer.epilogue) {
        out.append(layer.epilogue)
    }
    return out
}

/// One side-by-side measurement of a layer's bare GEMM (bias only) and the same algorithm with the epilogue.
public struct EpilogueRecord: Codable {
    public var layer: String
    public var problem: String
    public var algorithm: String
    public var epilogue: String
    public var threads: Int
    public var bare_ms: Double
    public var fused_ms: Double
    public var overhead: Double
}

/// Times `algorithm` on `problem` bare and with `epilogue`, interleaved repetition by repetition.
public func measureEpilogue(layer: String, problem: ConvProblem, algorithm: any ConvolutionAlgorithm, epilogue: PointwiseEpilogue,
                     executor: any Executor, policy: TimingPolicy) throws -> EpilogueRecord {
    let bare = try algorithm.trial(try TrialData(problem, seed: 3), executor: executor)
    let fused = try algorithm.trial(try TrialData(problem, seed: 3, epilogue: epilogue), executor: executor)
    let t = InterleavedTimer.run([bare.run, fused.run], policy: policy)
    return EpilogueRecord(layer: layer, problem: "\(problem)", algorithm: algorithm.name, epilogue: "\(epilogue)", threads: executor.threads,
                          bare_ms: t[0].median * 1e3, fused_ms: t[1].median * 1e3, overhead: t[1].median / t[0].median - 1)
}

extension ReportWriter {
    static let pointwiseSet = "replknet31b-pointwise"

    func pointwisePlots() -> [(String, String)] {
        guard let set = sets.first(where: { $0.0 == ReportWriter.pointwiseSet }) else { return [] }
        return threads.map { t in
            let recs = records(set.0, t)
            let problems = set.1.entries.map { "\($0.problem)" }
            let series: [(name: String, values: [Double?])] = [
                ("dwbench gemm-simd (best)", problems.map { best(recs, problem: $0, family: "gemm-simd")?.gflops }),
                ("OpenBLAS sgemm", problems.map { best(recs, problem: $0, family: "gemm-blas.openblas")?.gflops }),
                ("oneDNN sgemm", problems.map { best(recs, problem: $0, family: "gemm-blas.onednn")?.gflops }),
            ]
            return ("pointwise-gflops-\(t)t.svg", SVGChart.barChart(
                title: "RepLKNet-31B 1×1 layers, GFLOP/s, \(t) thread\(t == 1 ? "" : "s")", yLabel: "GFLOP/s",
                categories: set.1.entries.map(\.name), series: series))
        }
    }

    func renderPointwise(epilogues: [EpilogueRecord]) -> [String] {
        guard let set = sets.first(where: { $0.0 == ReportWriter.pointwiseSet }) else { return [] }
        var md: [String] = []
        md.append("## Pointwise (1×1) convolution: RepLKNet-31B's 1×1 layers (224², batch 1)\n")
        md.append("Our Swift GEMM (`gemm-simd.*`, NCHW16c activations, packed weights, register tiles of 21–28 zmm accumulators) against the `sgemm` of oneDNN (one call per image, its own threads) and of OpenBLAS (single-threaded on a fixed grid of 256-channel × 1024-pixel tiles over our threads, so that its results do not depend on the thread count), both on NCHW, all with the bias fused (BLAS: beta = 1 over a bias-filled output). The 1×1 layers carry 12.85 of the model's 15.35 GMAC. % peak is against the measured FMA peak at that thread count. Targets: ≥ 85% of peak at 1 thread on the large layers, ≥ 1.3× OpenBLAS, ≥ 1.1× oneDNN, the 7×7 (N = 49) layers at least matching the best BLAS.\n")
        for t in threads {
            let recs = records(set.0, t)
            let peak = speed.peakChoice(threads: t, arithmetic: .fp32)!
            md.append("### \(t) thread\(t == 1 ? "" : "s") (peak \(fmt(peak.gflops, 0)) GFLOP/s)\n")
            md += markdownWarnings([peak.note].compactMap { $0 })
            md.append("| layer | problem | count | fastest gemm-simd | GFLOP/s | % peak | OpenBLAS | oneDNN | vs OpenBLAS | vs oneDNN |")
            md.append("|---|---|---|---|---|---|---|---|---|---|")
            var ours = 0.0, openblas = 0.0, onednn = 0.0, flops = 0.0
            for e in set.1.entries {
                let p = "\(e.problem)"
                let g = best(recs, problem: p, family: "gemm-simd")
                let ob = best(recs, problem: p, family: "gemm-blas.openblas"), dn = best(recs, problem: p, family: "gemm-blas.onednn")
                ours += (g?.median_ms ?? .nan) * Double(e.count)
                openblas += (ob?.median_ms ?? .nan) * Double(e.count)
                onednn += (dn?.median_ms ?? .nan) * Double(e.count)
                flops += e.problem.flops * Double(e.count)
                func ratio(_ other: BenchRecord?) -> String {
                    guard let g, let other else { return "—" }
                    return fmt(other.median_ms! / g.median_ms!, 2) + "×"
                }
                md.append("| \(e.name) | `\(p)` | \(e.count) | \(g?.algorithm ?? "—") | \(g.map { fmt($0.gflops!, 1) } ?? "—") | \(g.map { fmt($0.percent_of_peak!, 1) } ?? "—") | \(ob.map { fmt($0.gflops!, 1) } ?? "—") | \(dn.map { fmt($0.gflops!, 1) } ?? "—") | \(ratio(ob)) | \(ratio(dn)) |")
            }
            md.append("\nAll 1×1 layers of one forward pass (Σ count × median): gemm-simd \(fmt(ours, 2)) ms (\(fmt(flops / ours / 1e6, 0)) GFLOP/s), OpenBLAS \(fmt(openblas, 2)) ms, oneDNN \(fmt(onednn, 2)) ms.\n")
            md.append("![pointwise GFLOP/s, \(t) threads](pointwise-gflops-\(t)t.svg)\n")
        }
        if !epilogues.isEmpty {
            md.append("### Cost of the fused epilogue\n")
            md.append("Each layer's fastest gemm-simd variant with bias only and with the epilogue RepLKNet applies there, timed interleaved (one repetition of each in turn). GELU is the exact erf form (a rational erf, max abs error 3.7e-7).\n")
            md.append("| layer | problem | threads | algorithm | epilogue | bias only ms | fused ms | cost |")
            md.append("|---|---|---|---|---|---|---|---|")
            for r in epilogues {
                md.append("| \(r.layer) | `\(r.problem)` | \(r.threads) | \(r.algorithm) | \(r.epilogue) | \(fmt(r.bare_ms, 3)) | \(fmt(r.fused_ms, 3)) | \(r.overhead >= 0 ? "+" : "")\(fmt(r.overhead * 100, 1))% |")
            }
            md.append("")
        }
        md.append("Inner loops of every tile shape, checked in the release binary's disassembly: [pointwise-asm.md](pointwise-asm.md) (`python3 Benchmarks/asm/pointwise_asm.py .build/release/dwbench`).\n")
        return md
    }
}
