import DWCore
import DWKernels
import DWTune

/// Picks each layer's algorithm for the model: the plan's choice when it runs in NCHW16c (the model's
/// layout, so no layer pays a reorder), otherwise the plan's fastest candidate that does; problems missing
/// from the plan (or no plan) get the heuristic. The plan's import rules (machine, build, threads,
/// `--plan-only`) are `PlanChooser`'s.
public struct ModelChooser {
    public let plans: PlanChooser

    public init(_ plans: PlanChooser) { self.plans = plans }

    public func choose(_ problem: ConvProblem) throws -> (name: String, source: String) {
        if let entry = plans.plan?.entries["\(problem)"] {
            let ranked = entry.candidates.filter { $0.median_ms != nil }.sorted { $0.median_ms! < $1.median_ms! }
            for c in ranked {
                guard let a = try? Registry.anyAlgorithm(named: c.algorithm), a.kind == problem.kind, a.layout == .nchw16c else { continue }
                if c.algorithm == entry.algorithm { return (c.algorithm, "plan (\(entry.mode))") }
                let chosen = (try? Registry.anyAlgorithm(named: entry.algorithm))?.layout.rawValue ?? "?"
                return (c.algorithm, "plan: fastest NCHW16c candidate (\(entry.algorithm) runs in \(chosen), \(fmtPercent(c.median_ms! / ranked[0].median_ms! - 1)) slower)")
            }
        }
        return try plans.chooseName(problem)
    }

    private func fmtPercent(_ x: Double) -> String { "\(Int((x * 100).rounded()))%" }
}

extension RepLKNetConfig {
    /// The distinct depthwise and pointwise problems of a forward pass at this batch and resolution, in
    /// layer order (what `dwbench replknet` tunes on first use). Equal to the problems of
    /// `RepLKNetModel.layers` (tested).
    public func problems(batch n: Int, resolution: Int) throws -> [ConvProblem] {
        var out: [ConvProblem] = []
        func add(_ p: ConvProblem) { if !out.contains(p) { out.append(p) } }
        var side = resolution / 2
        let c0 = channels[0]
        add(.pointwise(try PointwiseProblem(n: n, c: 9 * inChannels, h: side, w: side, o: c0)))
        add(.depthwise(try Problem(n: n, c: c0, h: side, w: side, k: 3, s: 1, p: 1)))
        add(.pointwise(try PointwiseProblem(n: n, c: c0, h: side, w: side, o: c0)))
        add(.depthwise(try Problem(n: n, c: c0, h: side, w: side, k: 3, s: 2, p: 1)))
        side /= 2
        for s in 0..<stages {
            let c = channels[s], d = dwChannels(s), f = c * ffnRatio
            add(.pointwise(try PointwiseProblem(n: n, c: c, h: side, w: side, o: d)))
            add(.depthwise(try Problem(n: n, c: d, h: side, w: side, k: kernels[s], s: 1, p: kernels[s] / 2)))
            add(.pointwise(try PointwiseProblem(n: n, c: d, h: side, w: side, o: c)))
            add(.pointwise(try PointwiseProblem(n: n, c: c, h: side, w: side, o: f)))
            add(.pointwise(try PointwiseProblem(n: n, c: f, h: side, w: side, o: c)))
            if s + 1 < stages {
                add(.pointwise(try PointwiseProblem(n: n, c: c, h: side, w: side, o: channels[s + 1])))
                add(.depthwise(try Problem(n: n, c: channels[s + 1], h: side, w: side, k: 3, s: 2, p: 1)))
                side /= 2
            }
        }
        return out
    }
}
