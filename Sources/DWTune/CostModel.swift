import DWCore
import DWKernels

/// The estimate mode's roofline: an algorithm's time on a problem is
/// max(its FLOPs / peak, its bytes / bandwidth) divided by the algorithm's efficiency, a factor measured
/// by a previous measure-mode run (stored in the plan's calibration) or, without one, a default per family.
public struct CostModel: Sendable {
    public var peakGflops: Double
    public var bandwidthGBs: Double
    /// Efficiency per registry name; names missing here use `defaultEfficiency` of their family.
    public var efficiency: [String: Double]

    /// Rough efficiencies per family (registry name up to the first '.') from the committed Results,
    /// used only when no calibration is given.
    public static let defaultEfficiency: [String: Double] = [
        "direct-simd": 0.65, "fft": 0.3, "implicit-gemm": 0.25, "im2col-gemm": 0.5, "naive": 0.02,
    ]

    public init(peakGflops: Double, bandwidthGBs: Double, efficiency: [String: Double] = [:]) {
        self.peakGflops = peakGflops
        self.bandwidthGBs = bandwidthGBs
        self.efficiency = efficiency
    }

    public static func family(_ name: String) -> String { String(name.prefix { $0 != "." }) }

    /// Seconds at 100% efficiency: the roofline bound.
    public func bound(_ algorithm: any DepthwiseAlgorithm, _ problem: Problem) -> Double {
        let w = algorithm.workEstimate(problem)
        return max(w.flops / (peakGflops * 1e9), w.bytes / (bandwidthGBs * 1e9))
    }

    public func efficiency(of name: String) -> Double {
        efficiency[name] ?? CostModel.defaultEfficiency[CostModel.family(name)] ?? 0.1
    }

    /// Predicted seconds.
    public func predict(_ algorithm: any DepthwiseAlgorithm, _ problem: Problem) -> Double {
        bound(algorithm, problem) / efficiency(of: algorithm.name)
    }
}
