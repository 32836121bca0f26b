import DWCore
import DWKernels
import DWModel
import Foundation

/// A forward pass timed layer by layer: one warm-up pass, then `repetitions` passes, each recording every
/// layer's wall time (`RepLKNetModel.forward(layerSeconds:)`) and the whole pass's.
public struct ModelTiming {
    /// The logits of the last pass (N × classes).
    public let logits: [Float]
    /// Per layer of `model.layers`, one time per pass, seconds.
    public let perLayer: [[Double]]
    /// Whole-pass times, seconds.
    public let totals: [Double]

    public static func run(_ model: RepLKNetModel, image: [Float], repetitions: Int) -> ModelTiming {
        var logits = [Float](repeating: 0, count: model.batch * model.config.classes)
        let count = model.layers.count
        var perLayer = [[Double]](repeating: [], count: count)
        var totals: [Double] = []
        var slots = [Double](repeating: 0, count: count)
        image.withUnsafeBufferPointer { x in
            logits.withUnsafeMutableBufferPointer { y in
                model.forward(x.baseAddress!, logits: y.baseAddress!)
                for _ in 0..<repetitions {
                    let t0 = monotonicSeconds()
                    slots.withUnsafeMutableBufferPointer { model.forward(x.baseAddress!, logits: y.baseAddress!, layerSeconds: $0.baseAddress!) }
                    totals.append(monotonicSeconds() - t0)
                    for i in 0..<count { perLayer[i].append(slots[i]) }
                }
            }
        }
        return ModelTiming(logits: logits, perLayer: perLayer, totals: totals)
    }
}

/// What `dwbench replknet` prints: top-5 classes, median latency, and a per-layer table of measured time
/// against the roofline prediction, with totals and the depthwise layers' share of time and of FLOPs.
public struct ModelReport {
    public let model: RepLKNetModel
    /// Where the weights came from (a checkpoint's path and form, or "random").
    public let source: String
    public let timing: ModelTiming
    /// fp32 FMA peak and, where the CPU has it, the bf16 dot-product peak (bf16 layers' roofline).
    public let peak: Peaks
    public let bandwidth: Double
    public let setupSeconds: Double
    /// What each batch item is (a photo's path, the input file), for the top-5 lines; empty for random input.
    public var inputNames: [String]

    public init(model: RepLKNetModel, source: String, timing: ModelTiming, peak: Peaks, bandwidth: Double, setupSeconds: Double,
                inputNames: [String] = []) {
        self.model = model
        self.source = source
        self.timing = timing
        self.peak = peak
        self.bandwidth = bandwidth
        self.setupSeconds = setupSeconds
        self.inputNames = inputNames
    }

    var perLayer: [[Double]] { timing.perLayer }
    var totals: [Double] { timing.totals }
    var logits: [Float] { timing.logits }

    public struct LayerRow: Codable {
        public var layer: String
        public var op: String
        public var algorithm: String
        public var choice: String
        /// The arithmetic of the chosen algorithm: fp32, or bf16 (operands rounded to bf16, fp32 accumulation).
        public var precision: Precision
        public var problem: String?
        public var flops: Double
        public var bytes: Double
        public var predicted_ms: Double
        public var measured_ms: Double
        public var efficiency: Double
    }

    /// Schema: Sources/DWBench/model-report.schema.json.
    public struct Output: Codable {
        public static let schemaVersion = 1
        public var schema_version = Output.schemaVersion
        public var model: String
        public var weights: String
        public var inputs: [String]?
        public var batch: Int
        public var resolution: Int
        public var threads: Int
        /// The precision the run allowed (`--precision`); each layer says what it used.
        public var precision: Precision
        public var classes: Int
        public var median_ms: Double
        public var min_ms: Double
        public var max_ms: Double
        public var images_per_s: Double
        public var predicted_ms: Double
        public var gflop: Double
        public var peak_gflops: Double
        public var bf16_peak_gflops: Double?
        /// A peak whose measurement looks disturbed, and the figure used for it (`Peaks.notes`; absent when none).
        public var peak_notes: [String]?
        public var bandwidth_gbs: Double
        public var depthwise_time_share: Double
        public var depthwise_flop_share: Double
        public var top5: [[Top]]
        public var peak_memory_bytes: Int
        public var weight_bytes: Int
        public var activation_bytes: Int
        public var setup_seconds: Double
        public var layers: [LayerRow]
    }

    /// One of the five highest logits: its class index, the ImageNet class name (1000-class models only) and value.
    public struct Top: Codable { var index: Int; var label: String?; var logit: Float }

    /// The footnotes of the table and the page: what "predicted" counts, and why an efficiency can pass 100%.
    public static let predictionNote = "Performed FLOPs are the chosen algorithm's own count; the GFLOP column is the direct-equivalent count; efficiency = predicted / measured."
    public static let aboveRooflineNote = "Efficiency above 100%: the layer ran faster than its roofline, because its data stayed in cache (the bytes term assumes DRAM bandwidth) or its FLOP count is an estimate (the FFT's)."

    /// FLOPs a layer's algorithm performs (its own count: the taps that meet real input for direct kernels,
    /// transforms and spectral products for the FFT); the layer's direct FLOPs for fixed steps.
    func performedFlops(_ l: RepLKNetModel.Layer) -> Double {
        guard let problem = l.problem, let algorithm = try? Registry.anyAlgorithm(named: l.algorithm) else { return l.flops }
        return algorithm.workEstimate(problem).flops
    }

    /// The arithmetic of a layer's algorithm (fixed steps are fp32).
    func arithmetic(_ l: RepLKNetModel.Layer) -> Precision { (try? Registry.anyAlgorithm(named: l.algorithm))?.arithmetic ?? .fp32 }

    func rows() -> [LayerRow] {
        model.layers.enumerated().map { i, l in
            let precision = arithmetic(l)
            let predicted = max(performedFlops(l) / (peak.roofline(for: precision) * 1e9), l.bytes / (bandwidth * 1e9))
            let measured = median(perLayer[i])
            return LayerRow(layer: l.name, op: l.op, algorithm: l.algorithm, choice: l.source, precision: precision, problem: l.problem.map { "\($0)" },
                            flops: l.flops, bytes: l.bytes, predicted_ms: predicted * 1e3, measured_ms: measured * 1e3,
                            efficiency: measured > 0 ? predicted / measured : 0)
        }
    }

    /// "117 GFLOP/s" or, when bf16 layers ran, "117 GFLOP/s (fp32 layers), 226 GFLOP/s (bf16 layers)".
    var peakText: String {
        guard model.layers.contains(where: { arithmetic($0) == .bf16 }) else { return "\(fmt(peak.fp32, 0)) GFLOP/s" }
        return "\(fmt(peak.fp32, 0)) GFLOP/s (fp32 layers) or \(fmt(peak.roofline(for: .bf16), 0)) GFLOP/s (bf16 layers)"
    }

    func top5() -> [[Top]] {
        let classes = model.config.classes
        return (0..<model.batch).map { b in
            let row = Array(logits[(b * classes)..<((b + 1) * classes)])
            return row.indices.sorted { row[$0] > row[$1] }.prefix(5).map {
                Top(index: $0, label: classes == imageNetClasses.count ? imageNetClasses[$0] : nil, logit: row[$0])
            }
        }
    }

    public func json() -> Output {
        let r = rows()
        let med = median(totals)
        let flops = r.reduce(0) { $0 + $1.flops }
        let dwTime = r.filter { $0.op == "depthwise" }.reduce(0) { $0 + $1.measured_ms }
        let dwFlops = r.filter { $0.op == "depthwise" }.reduce(0) { $0 + $1.flops }
        let measuredSum = r.reduce(0) { $0 + $1.measured_ms }
        let weights = model.config.parameterCount * 4
        return Output(model: "RepLKNet (\(model.config))", weights: source, inputs: inputNames.isEmpty ? nil : inputNames, batch: model.batch, resolution: model.resolution,
                      threads: model.threads, precision: model.precision, classes: model.config.classes, median_ms: med * 1e3,
                      min_ms: (totals.min() ?? 0) * 1e3, max_ms: (totals.max() ?? 0) * 1e3,
                      images_per_s: Double(model.batch) / med, predicted_ms: r.reduce(0) { $0 + $1.predicted_ms },
                      gflop: flops / 1e9, peak_gflops: peak.fp32, bf16_peak_gflops: peak.bf16,
                      peak_notes: peak.notes.isEmpty ? nil : peak.notes, bandwidth_gbs: bandwidth,
                      depthwise_time_share: measuredSum > 0 ? dwTime / measuredSum : 0, depthwise_flop_share: dwFlops / flops,
                      top5: top5(), peak_memory_bytes: peakResidentBytes(), weight_bytes: weights,
                      activation_bytes: model.activationBytes, setup_seconds: setupSeconds, layers: r)
    }

    public func table() -> String {
        let o = json()
        var lines: [String] = []
        lines.append("RepLKNet \(model.config.channels) kernels \(model.config.kernels), batch \(o.batch), \(o.resolution)×\(o.resolution), \(o.threads) thread\(o.threads == 1 ? "" : "s"), precision \(o.precision); weights: \(source)")
        lines.append("top-5 per image, as class index\(model.config.classes == imageNetClasses.count ? " 'ImageNet class'" : ""): logit")
        for (b, top) in o.top5.enumerated() {
            let name = b < inputNames.count ? " (\(inputNames[b]))" : ""
            lines.append("  image \(b)\(name): " + top.map { t in
                "\(t.index)\(t.label.map { " '\($0)'" } ?? ""): \(String(format: "%.3f", t.logit))"
            }.joined(separator: ", "))
        }
        lines.append("latency: median \(fmt(o.median_ms, 2)) ms over \(totals.count) runs (min \(fmt(o.min_ms, 2)), max \(fmt(o.max_ms, 2))); \(fmt(o.images_per_s, 1)) images/s; \(fmt(o.gflop / (o.median_ms / 1e3), 1)) GFLOP/s")
        var rows = [["layer", "op", "algorithm", "prec.", "GFLOP", "MB", "predicted ms", "measured ms", "efficiency"]]
        for r in o.layers {
            rows.append([r.layer, r.op, r.algorithm, r.precision.rawValue, fmt(r.flops / 1e9, 3), fmt(r.bytes / 1e6, 2), fmt(r.predicted_ms, 3),
                         fmt(r.measured_ms, 3), "\(fmt(r.efficiency * 100, 0))%"])
        }
        let measured = o.layers.reduce(0) { $0 + $1.measured_ms }
        rows.append(["total", "", "", "", fmt(o.gflop, 2), fmt(o.layers.reduce(0) { $0 + $1.bytes } / 1e6, 1), fmt(o.predicted_ms, 2),
                     fmt(measured, 2), "\(fmt(o.predicted_ms / measured * 100, 0))%"])
        lines.append(formatColumns(rows, rightAligned: [4, 5, 6, 7, 8]))
        lines.append("predicted = max(performed FLOPs / \(peakText), bytes / \(fmt(bandwidth, 1)) GB/s) per layer. " + ModelReport.predictionNote)
        lines += peak.footnotes
        if o.layers.contains(where: { $0.efficiency > 1 }) { lines.append(ModelReport.aboveRooflineNote) }
        lines.append("depthwise layers: \(fmt(o.depthwise_flop_share * 100, 1))% of the FLOPs, \(fmt(o.depthwise_time_share * 100, 1))% of the time (the paper: 49.5% → 12.3% of GPU time)")
        lines.append("memory: peak RSS \(fmt(Double(o.peak_memory_bytes) / 1e6, 0)) MB; weights \(fmt(Double(o.weight_bytes) / 1e6, 0)) MB (fp32), activation buffers and workspace \(fmt(Double(o.activation_bytes) / 1e6, 1)) MB; setup \(fmt(o.setup_seconds, 1)) s")
        return lines.joined(separator: "\n")
    }

    /// A peer engine's whole-model time (Benchmarks/peers/run_replknet_peers.py).
    public struct PeerRecord: Codable {
        public var engine: String
        public var config: String
        public var threads: Int
        public var batch: Int
        public var resolution: Int
        public var median_ms: Double
        public var min_ms: Double
        public var max_ms: Double
        public var images_per_s: Double
    }

    /// Markdown page: the run, the comparison with the peers, the grouped prediction, the per-layer table.
    public func markdown(peers: [PeerRecord], command: String, svgName: String) -> String {
        let o = json()
        var md: [String] = []
        md.append("# RepLKNet forward pass: batch \(o.batch), \(o.resolution)², \(o.threads) thread\(o.threads == 1 ? "" : "s"), \(o.precision)\n")
        md.append("Made by `\(command)`. Model: \(o.model); weights: \(o.weights). Predicted = Σ per-layer roofline max(FLOPs / \(peakText), bytes / \(fmt(bandwidth, 1)) GB/s), measured by `dwbench machine`'s loops at start.\n")
        md += peak.markdownWarnings
        md.append("| | median ms | min–max ms | images/s | vs dwbench |")
        md.append("|---|---|---|---|---|")
        md.append("| **dwbench** | \(fmt(o.median_ms, 1)) | \(fmt(o.min_ms, 1))–\(fmt(o.max_ms, 1)) | \(fmt(o.images_per_s, 2)) | 1.00× |")
        for p in peers where p.threads == o.threads && p.batch == o.batch && p.resolution == o.resolution {
            md.append("| \(p.engine) | \(fmt(p.median_ms, 1)) | \(fmt(p.min_ms, 1))–\(fmt(p.max_ms, 1)) | \(fmt(p.images_per_s, 2)) | \(fmt(p.median_ms / o.median_ms, 2))× slower |")
        }
        md.append("| FLOP prediction | \(fmt(o.predicted_ms, 1)) | | | measured / predicted = \(fmt(o.median_ms / o.predicted_ms, 2)) |")
        md.append("")
        md.append("\(fmt(o.gflop, 2)) GFLOP per pass → \(fmt(o.gflop / (o.median_ms / 1e3), 1)) GFLOP/s. Depthwise layers: \(fmt(o.depthwise_flop_share * 100, 1))% of the FLOPs, \(fmt(o.depthwise_time_share * 100, 1))% of the time (the paper: 49.5% → 12.3% on GPU). Peak RSS \(fmt(Double(o.peak_memory_bytes) / 1e6, 0)) MB for \(fmt(Double(o.weight_bytes) / 1e6, 0)) MB of fp32 weights and \(fmt(Double(o.activation_bytes) / 1e6, 1)) MB of activation buffers and workspace.\n")
        md.append("![predicted vs measured per layer group](\(svgName))\n")
        md.append("| layer | op | algorithm (choice) | precision | GFLOP | MB | predicted ms | measured ms | efficiency |")
        md.append("|---|---|---|---|---|---|---|---|---|")
        for r in o.layers {
            md.append("| \(r.layer) | \(r.op) | \(r.algorithm) (\(r.choice)) | \(r.precision) | \(fmt(r.flops / 1e9, 3)) | \(fmt(r.bytes / 1e6, 2)) | \(fmt(r.predicted_ms, 3)) | \(fmt(r.measured_ms, 3)) | \(fmt(r.efficiency * 100, 0))%\(r.efficiency > 1 ? "†" : "") |")
        }
        md.append("\npredicted ms = max(performed FLOPs / peak, bytes / bandwidth). " + ModelReport.predictionNote)
        if o.layers.contains(where: { $0.efficiency > 1 }) { md.append("† " + ModelReport.aboveRooflineNote) }
        return md.joined(separator: "\n") + "\n"
    }

    /// Writes `base`.md, .json and .svg into `directory` (created if missing), each atomically.
    public func writePages(directory: String, base: String, peers: [PeerRecord], command: String) throws {
        try AtomicFile.createDirectory(directory)
        try AtomicFile.write(Data(svg().utf8), to: "\(directory)/\(base).svg")
        try AtomicFile.write(Data(try jsonString(json()).utf8), to: "\(directory)/\(base).json")
        try AtomicFile.write(Data(markdown(peers: peers, command: command, svgName: "\(base).svg").utf8), to: "\(directory)/\(base).md")
    }

    public func svg() -> String {
        let r = rows()
        var groups: [String] = []
        var predicted: [String: Double] = [:], measured: [String: Double] = [:]
        for (layer, row) in zip(model.layers, r) {
            let g = layer.group
            if !groups.contains(g) { groups.append(g) }
            predicted[g, default: 0] += row.predicted_ms
            measured[g, default: 0] += row.measured_ms
        }
        return SVGChart.barChart(title: "RepLKNet batch \(model.batch), \(model.threads) thread\(model.threads == 1 ? "" : "s"): predicted vs measured ms per layer group",
                                 yLabel: "ms", categories: groups,
                                 series: [("predicted (roofline)", groups.map { predicted[$0] }), ("measured (median)", groups.map { measured[$0] })])
    }
}

extension ReportWriter {
    /// Links the whole-model pages (`dwbench replknet --report`, made by Benchmarks/replknet_results.sh) found
    /// in the output directory, with their headline figures.
    func renderModelRuns() -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: outputDirectory) else { return [] }
        let pages = files.filter { $0.hasPrefix("replknet-") && $0.hasSuffix(".json") }.sorted()
        guard !pages.isEmpty else { return [] }
        var md = ["## RepLKNet forward pass (whole model)\n",
                  "Made by `bash Benchmarks/replknet_results.sh` (peers measured right before dwbench, per setting); each page has the per-layer table and a plot of predicted vs measured time.\n",
                  "| page | precision | batch | threads | median ms | images/s | predicted ms |", "|---|---|---|---|---|---|---|"]
        for file in pages {
            guard let data = FileManager.default.contents(atPath: "\(outputDirectory)/\(file)"),
                  let o = try? JSONDecoder().decode(ModelReport.Output.self, from: data) else { continue }
            let page = file.replacingOccurrences(of: ".json", with: ".md")
            md.append("| [\(page)](\(page)) | \(o.precision) | \(o.batch) | \(o.threads) | \(fmt(o.median_ms, 1)) | \(fmt(o.images_per_s, 2)) | \(fmt(o.predicted_ms, 1)) |")
        }
        md.append("")
        return md
    }

    /// Links every other page and record in the output directory, with the command that makes it.
    func renderIndex() -> [String] {
        guard let files = try? FileManager.default.contentsOfDirectory(atPath: outputDirectory) else { return [] }
        let groups: [(String, String, (String) -> Bool)] = [
            ("Tuning plans and their verification", "bash Benchmarks/tune_results.sh",
             { ($0.hasPrefix("tuning-") && $0.hasSuffix(".md")) || ($0.hasPrefix("plan-") && !$0.contains("-model-")) }),
            ("Model plans (tuned on first use by `dwbench replknet --plan`)", "bash Benchmarks/replknet_results.sh",
             { $0.hasPrefix("plan-") && $0.contains("-model-") }),
            ("Peer engines", "python3 Benchmarks/peers/run_peers.py …, python3 Benchmarks/peers/run_replknet_peers.py …",
             { $0.hasPrefix("peers-") }),
            ("Regression gate: A/B detection record, calibration-ratio baseline and false-alarm record",
             "bash Benchmarks/gate/ab_record.sh 5; dwbench check --baseline Results/check-baseline-1t.json --update; bash Benchmarks/check_record.sh 10",
             { $0.hasPrefix("check-") }),
            ("libdwconv inside PyTorch (dwconv.torch.convert + torch.compile against PyTorch's strongest recipes, dwbench and OpenVINO)",
             "python3 Benchmarks/dwconv/torch_recipes.py",
             { $0.hasPrefix("dwconv-torch") }),
            ("bf16: both precisions against OpenVINO f32 and bf16, and the accuracy contract",
             "bash Benchmarks/replknet_results.sh (ends with python3 Benchmarks/bf16/page.py); python3 Benchmarks/bf16/accuracy.py --official <RepLKNet-pytorch>",
             { $0.hasPrefix("bf16") }),
            ("Pointwise inner loops (disassembly)", "python3 Benchmarks/asm/pointwise_asm.py .build/release/dwbench > Results/pointwise-asm.md",
             { $0 == "pointwise-asm.md" }),
            ("Hardening: fuzzing and sanitizer records (long manual runs, not redone by the regeneration script)",
             "bash Tests/Fuzz/fuzz.sh --seconds 600 --jobs 2 --record Results/fuzzing.md; bash Tests/Sanitizers/run.sh address (or thread)",
             { $0 == "fuzzing.md" || $0 == "sanitizers.md" }),
        ]
        var md = ["## Index of the other files\n",
                  "Everything here is regenerated by `bash Benchmarks/regenerate_results.sh` (no Python peers: their committed JSON is reused) or `bash Benchmarks/regenerate_results.sh --peers` (re-measures the peers too).\n"]
        for (title, command, match) in groups {
            let names = files.filter(match).sorted()
            guard !names.isEmpty else { continue }
            md.append("- \(title) — `\(command)`: " + names.map { "[\($0)](\($0))" }.joined(separator: ", "))
        }
        md.append("")
        return md
    }
}
