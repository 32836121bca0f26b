import DWCore
import DWKernels
import DWTune
import Foundation

/// One `dwbench bench` result: the JSON record format shared with the peer scripts (Benchmarks/peers).
public struct BenchRecord: Codable {
    public var problem: String
    public var algorithm: String
    public var layout: String
    public var threads: Int
    public var status: String           // "ok", "capped" or "refused"
    public var reason: String?
    public var median_ms: Double?
    public var min_ms: Double?
    public var max_ms: Double?
    /// Direct-equivalent rate: 2·N·C·OH·OW·K² (depthwise) or 2·N·O·C·H·W (pointwise) per run, whatever the
    /// algorithm does; for comparing algorithms, not a share of the hardware.
    public var gflops: Double?
    /// The rate of the FLOPs the algorithm itself performs (its `workEstimate`: only the taps that meet real
    /// input for direct kernels, transforms plus spectral products for the FFT, padded panels for GEMMs).
    public var performed_gflops: Double?
    /// `performed_gflops` as a percentage of the peak measured at start for the same thread count: the fp32 FMA
    /// peak, or for a bf16 algorithm the bf16 dot-product peak.
    public var percent_of_peak: Double?
    public var speedup_vs_naive: Double?
    public var relative_error: Double?
    public var iterations: Int?
    public var repetitions: Int?
    public var fastest: Bool
    /// With --plan: whether this is the plan's choice.
    public var planned: Bool?
}

/// What `dwbench bench --format json` prints and `dwbench report` writes (bench-<set>-<T>t.json): one
/// envelope saying where and how the records were measured, then the records. Schema:
/// Sources/DWBench/bench.schema.json (`schema_version` 1).
public struct BenchOutput: Codable {
    public static let schemaVersion = 1
    public var schema_version = BenchOutput.schemaVersion
    public var generator: String
    public var created: String
    public var machine: MachineFingerprint
    public var build: BuildSignature
    public var threads: Int
    /// FMA peak and triad bandwidth measured at start for `threads`, the denominators of the records' ratios.
    public var peak_gflops: Double
    /// The bf16 dot-product peak, the denominator of bf16 algorithms' percent_of_peak (when any ran).
    public var bf16_peak_gflops: Double?
    public var bandwidth_gbs: Double
    /// The peaks' notes (`Peaks.notes`): a peak whose measurement looks disturbed, and the figure used for it
    /// (absent when there is none).
    public var peak_notes: [String]?
    public var records: [BenchRecord]

    public init(threads: Int, peak: Peaks, bandwidth: Double, records: [BenchRecord]) {
        generator = "dwbench \(BuildSignature.packageVersion)"
        created = ISO8601DateFormatter().string(from: Date())
        machine = MachineFingerprint.current()
        build = BuildSignature.current(registryNames: Registry.names)
        self.threads = threads
        peak_gflops = peak.fp32
        bf16_peak_gflops = peak.bf16
        peak_notes = peak.notes.isEmpty ? nil : peak.notes
        bandwidth_gbs = bandwidth
        self.records = records
    }
}

/// Turns a problem's benchmark into records: GFLOP/s, % of the measured peak, speed-up over naive.
public func records(_ result: ProblemBenchmark, threads: Int, peak: Peaks) -> [BenchRecord] {
    let p = result.problem
    let performed = Dictionary(Registry.all.map { ($0.name, $0.workEstimate(p).flops) }, uniquingKeysWith: { a, _ in a })
    let arithmetic = Dictionary(Registry.all.map { ($0.name, $0.arithmetic) }, uniquingKeysWith: { a, _ in a })
    let reference = Registry.reference(for: p).name
    let naive = result.cases.first { $0.algorithm == reference }?.timing?.median
    let best = result.cases.compactMap { $0.timing?.median }.min()
    return result.cases.map { c in
        guard let t = c.timing else {
            return BenchRecord(problem: "\(p)", algorithm: c.algorithm, layout: c.layout.rawValue, threads: threads,
                               status: "refused", reason: c.refusal, fastest: false)
        }
        let gflops = p.flops / t.median / 1e9
        let performedGflops = (performed[c.algorithm] ?? p.flops) / t.median / 1e9
        return BenchRecord(problem: "\(p)", algorithm: c.algorithm, layout: c.layout.rawValue, threads: threads,
                           status: t.capped ? "capped" : "ok", reason: t.capped ? "single run: one run exceeded the cap" : nil,
                           median_ms: t.median * 1e3, min_ms: t.min * 1e3, max_ms: t.max * 1e3,
                           gflops: gflops, performed_gflops: performedGflops, percent_of_peak: peak.gflops(for: arithmetic[c.algorithm] ?? .fp32).map { 100 * performedGflops / $0 },
                           speedup_vs_naive: naive.map { $0 / t.median }, relative_error: c.relativeError,
                           iterations: t.iterations, repetitions: t.samples.count, fastest: t.median == best)
    }
}

/// The `bench` table of one problem: one row per algorithm (refusals with their reason), the layout
/// conversions, and the footnotes that say what the columns count.
public func renderTable(_ problem: ConvProblem, _ result: (records: [BenchRecord], raw: ProblemBenchmark), threads: Int, peak: Peaks,
                 epilogue: PointwiseEpilogue = .none) -> String {
    var lines: [String] = []
    let bf16 = problem.precision == .bf16 ? peak.bf16.map { ", bf16 \(fmt($0, 1))" } ?? ", no bf16" : ""
    let suffix = "\(fmt(problem.flops / 1e9, 3)) GFLOP; \(threads) thread\(threads == 1 ? "" : "s"); peak \(fmt(peak.fp32, 1))\(bf16) GFLOP/s"
    switch problem {
    case let .depthwise(p):
        lines.append("\(p)  (N\(p.n) C\(p.c) \(p.h)×\(p.w) → \(p.oh)×\(p.ow), kernel \(p.kernelLabel) stride \(p.sh == p.sw ? "\(p.sh)" : "\(p.sh)×\(p.sw)") pad \(p.ph == p.pw ? "\(p.ph)" : "\(p.ph)×\(p.pw)"); \(suffix))")
    case let .pointwise(p):
        lines.append("\(p)  (1×1: N\(p.n) C\(p.c) → O\(p.o) on \(p.h)×\(p.w), GEMM M×N×K = \(p.o)×\(p.pixels)×\(p.c) per image; epilogue \(epilogue); \(suffix))")
    }
    let reference = Registry.reference(for: problem).name
    let header = ["", "algorithm", "layout", "median ms", "min–max ms", "direct-eq. GFLOP/s", "% peak", "vs naive", "rel. error"]
    var rows: [[String]] = []
    let overPeak: Bool
    for r in result.records {
        if r.status == "refused" {
            rows.append(["", r.algorithm, r.layout, "refused: \(r.reason ?? "")", "", "", "", "", ""])
            continue
        }
        rows.append([(r.fastest ? "*" : "") + (r.planned == true ? "P" : ""), r.algorithm, r.layout,
                     fmt(r.median_ms!, 3) + (r.status == "capped" ? " (1 run, capped)" : ""),
                     "\(fmt(r.min_ms!, 3))–\(fmt(r.max_ms!, 3))",
                     fmt(r.gflops!, 1), r.percent_of_peak.map { fmt($0, 1) + ($0 > 100 ? "†" : "") } ?? "—",
                     r.speedup_vs_naive.map { fmt($0, 1) + "×" } ?? "—",
                     r.relative_error.map { String(format: "%.1e", $0) } ?? (r.algorithm == reference ? "ref" : "—")])
    }
    lines.append(formatColumns([header] + rows, rightAligned: [3, 4, 5, 6, 7, 8]))
    for c in result.raw.conversions {
        lines.append("layout conversion, not included above: NCHW→\(c.layout) input \(fmt(c.input.median * 1e3, 3)) ms, \(c.layout)→NCHW output \(fmt(c.output.median * 1e3, 3)) ms")
    }
    overPeak = result.records.contains { ($0.percent_of_peak ?? 0) > 100 }
    lines.append("* fastest. Median of repetitions, warm caches; rel. error = max|out − naive| / max|naive|.")
    lines.append("direct-eq. GFLOP/s counts every tap (compare algorithms with it); % peak = FLOPs the algorithm performs / measured FMA peak"
                 + (problem.precision == .bf16 ? " (bf16 algorithms: / the measured bf16 dot-product peak)." : "."))
    lines += peak.footnotes
    if overPeak {
        lines.append("† above the measured peak: that algorithm's FLOP count is its own estimate (the FFT's is 5·n·log₂n per transform, more than a mixed-radix transform performs), so its share of peak reads high.")
    }
    return lines.joined(separator: "\n")
}

/// Aligns columns; a row whose fourth cell is long and the rest empty (a refusal) spills freely.
public func formatColumns(_ rows: [[String]], rightAligned: Set<Int>) -> String {
    let columns = rows.map(\.count).max() ?? 0
    var widths = [Int](repeating: 0, count: columns)
    for row in rows where !(row.count > 3 && row[3].hasPrefix("refused")) {
        for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    return rows.map { row in
        if row.count > 3 && row[3].hasPrefix("refused") {
            return (0..<3).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ") + "  " + row[3]
        }
        return row.enumerated().map { i, cell in
            let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
            return rightAligned.contains(i) ? pad + cell : cell + pad
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }.joined(separator: "\n")
}

public func renderCSV(_ records: [BenchRecord]) -> String {
    var lines = ["problem,algorithm,layout,threads,status,reason,median_ms,min_ms,max_ms,gflops,performed_gflops,percent_of_peak,speedup_vs_naive,relative_error,iterations,repetitions,fastest,planned"]
    func opt<T>(_ x: T?) -> String { x.map { "\($0)" } ?? "" }
    func quoted(_ text: String?) -> String { text.map { "\"" + $0.replacingOccurrences(of: "\"", with: "\"\"") + "\"" } ?? "" }
    for r in records {
        lines.append([r.problem, r.algorithm, r.layout, String(r.threads), r.status, quoted(r.reason), opt(r.median_ms), opt(r.min_ms),
                      opt(r.max_ms), opt(r.gflops), opt(r.performed_gflops), opt(r.percent_of_peak), opt(r.speedup_vs_naive),
                      opt(r.relative_error), opt(r.iterations), opt(r.repetitions), String(r.fastest), opt(r.planned)].joined(separator: ","))
    }
    return lines.joined(separator: "\n")
}
