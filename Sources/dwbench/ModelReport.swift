import DWCore
import DWModel
import Foundation

/// What `dwbench replknet` prints: top-5 classes, median latency, and a per-layer table of measured time
/// against the roofline prediction, with totals and the depthwise layers' share of time and of FLOPs.
struct ModelReport {
    let model: RepLKNetModel
    let source: String
    let perLayer: [[Double]]
    let totals: [Double]
    let logits: [Float]
    let peak: Double
    let bandwidth: Double
    let setupSeconds: Double

    struct LayerRow: Codable {
        var layer: String
        var op: String
        var algorithm: String
        var choice: String
        var problem: String?
        var flops: Double
        var bytes: Double
        var predicted_ms: Double
        var measured_ms: Double
        var efficiency: Double
    }

    struct Output: Codable {
        var model: String
        var weights: String
        var batch: Int
        var resolution: Int
        var threads: Int
        var classes: Int
        var median_ms: Double
        var min_ms: Double
        var max_ms: Double
        var images_per_s: Double
        var predicted_ms: Double
        var gflop: Double
        var peak_gflops: Double
        var bandwidth_gbs: Double
        var depthwise_time_share: Double
        var depthwise_flop_share: Double
        var top5: [[Top]]
        var peak_memory_bytes: Int
        var weight_bytes: Int
        var activation_bytes: Int
        var setup_seconds: Double
        var layers: [LayerRow]
    }

    struct Top: Codable { var index: Int; var logit: Float }

    static func median(_ v: [Double]) -> Double { let s = v.sorted(); return s.isEmpty ? 0 : s[s.count / 2] }

    func rows() -> [LayerRow] {
        model.layers.enumerated().map { i, l in
            let predicted = max(l.flops / (peak * 1e9), l.bytes / (bandwidth * 1e9))
            let measured = ModelReport.median(perLayer[i])
            return LayerRow(layer: l.name, op: l.op, algorithm: l.algorithm, choice: l.source, problem: l.problem.map { "\($0)" },
                            flops: l.flops, bytes: l.bytes, predicted_ms: predicted * 1e3, measured_ms: measured * 1e3,
                            efficiency: measured > 0 ? predicted / measured : 0)
        }
    }

    func top5() -> [[Top]] {
        let classes = model.config.classes
        return (0..<model.batch).map { b in
            let row = Array(logits[(b * classes)..<((b + 1) * classes)])
            return row.indices.sorted { row[$0] > row[$1] }.prefix(5).map { Top(index: $0, logit: row[$0]) }
        }
    }

    /// Maximum resident set size of the process so far (bytes).
    static var peakMemoryBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    func json() -> Output {
        let r = rows()
        let med = ModelReport.median(totals)
        let flops = r.reduce(0) { $0 + $1.flops }
        let dwTime = r.filter { $0.op == "depthwise" }.reduce(0) { $0 + $1.measured_ms }
        let dwFlops = r.filter { $0.op == "depthwise" }.reduce(0) { $0 + $1.flops }
        let measuredSum = r.reduce(0) { $0 + $1.measured_ms }
        let weights = model.config.parameterCount * 4
        return Output(model: "RepLKNet (\(model.config))", weights: source, batch: model.batch, resolution: model.resolution,
                      threads: model.threads, classes: model.config.classes, median_ms: med * 1e3,
                      min_ms: (totals.min() ?? 0) * 1e3, max_ms: (totals.max() ?? 0) * 1e3,
                      images_per_s: Double(model.batch) / med, predicted_ms: r.reduce(0) { $0 + $1.predicted_ms },
                      gflop: flops / 1e9, peak_gflops: peak, bandwidth_gbs: bandwidth,
                      depthwise_time_share: measuredSum > 0 ? dwTime / measuredSum : 0, depthwise_flop_share: dwFlops / flops,
                      top5: top5(), peak_memory_bytes: ModelReport.peakMemoryBytes, weight_bytes: weights,
                      activation_bytes: model.activationBytes, setup_seconds: setupSeconds, layers: r)
    }

    func table() -> String {
        let o = json()
        var lines: [String] = []
        lines.append("RepLKNet \(model.config.channels) kernels \(model.config.kernels), batch \(o.batch), \(o.resolution)×\(o.resolution), \(o.threads) thread\(o.threads == 1 ? "" : "s"); weights: \(source)")
        for (b, top) in o.top5.enumerated() {
            lines.append("image \(b): top-5 " + top.map { "\($0.index) (\(String(format: "%.3f", $0.logit)))" }.joined(separator: ", "))
        }
        lines.append("latency: median \(fmt(o.median_ms, 2)) ms over \(totals.count) runs (min \(fmt(o.min_ms, 2)), max \(fmt(o.max_ms, 2))); \(fmt(o.images_per_s, 1)) images/s; \(fmt(o.gflop / (o.median_ms / 1e3), 1)) GFLOP/s")
        var rows = [["layer", "op", "algorithm", "GFLOP", "MB", "predicted ms", "measured ms", "efficiency"]]
        for r in o.layers {
            rows.append([r.layer, r.op, r.algorithm, fmt(r.flops / 1e9, 3), fmt(r.bytes / 1e6, 2), fmt(r.predicted_ms, 3),
                         fmt(r.measured_ms, 3), "\(fmt(r.efficiency * 100, 0))%"])
        }
        let measured = o.layers.reduce(0) { $0 + $1.measured_ms }
        rows.append(["total", "", "", fmt(o.gflop, 2), fmt(o.layers.reduce(0) { $0 + $1.bytes } / 1e6, 1), fmt(o.predicted_ms, 2),
                     fmt(measured, 2), "\(fmt(o.predicted_ms / measured * 100, 0))%"])
        lines.append(formatColumns(rows, rightAligned: [3, 4, 5, 6, 7]))
        lines.append("predicted = max(FLOPs / \(fmt(peak, 0)) GFLOP/s, bytes / \(fmt(bandwidth, 1)) GB/s) per layer; efficiency = predicted / measured.")
        lines.append("depthwise layers: \(fmt(o.depthwise_flop_share * 100, 1))% of the FLOPs, \(fmt(o.depthwise_time_share * 100, 1))% of the time (the paper: 49.5% → 12.3% of GPU time)")
        lines.append("memory: peak RSS \(fmt(Double(o.peak_memory_bytes) / 1e6, 0)) MB; weights \(fmt(Double(o.weight_bytes) / 1e6, 0)) MB (fp32), activation buffers and workspace \(fmt(Double(o.activation_bytes) / 1e6, 1)) MB; setup \(fmt(o.setup_seconds, 1)) s")
        return lines.joined(separator: "\n")
    }
}
