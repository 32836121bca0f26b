import DWCore
import DWKernels

/// The estimate mode's roofline: an algorithm's time on a problem is
/// max(FLOPs / (peak · e_c), bytes / (bandwidth · e_m)), with its compute efficiency e_c and memory
/// efficiency e_m measured by a previous measure-mode run (stored in the plan's calibration) or, without
/// one, defaults per family. e_m can exceed 1: small layers stay in cache, faster than streaming bandwidth.
public struct CostModel: Sendable {
    public var peakGflops: Double
    public var bandwidthGBs: Double
    /// Compute efficiency per registry name; names missing here use `defaultEfficiency` of their family.
    public var efficiency: [String: Double]
    /// Memory efficiency per registry name; missing names use `defaultMemoryEfficiency` of their family.
    public var memoryEfficiency: [String: Double]

    /// Rough efficiencies per family (registry name up to the first '.') from the committed Results,
    /// used only when no calibration is given.
    public static let defaultEfficiency: [String: Double] = [
        "direct-simd": 0.65, "fft": 0.3, "implicit-gemm": 0.25, "im2col-gemm": 0.5, "naive": 0.02,
        "gemm-simd": 0.85, "gemm-blas": 0.5, "pointwise-naive": 0.01,
    ]

    /// Rough memory efficiencies per family from a committed calibration (Results/plan-replknet31b-1t.json),
    /// used only when no calibration is given.
    public static let defaultMemoryEfficiency: [String: Double] = [
        "direct-simd": 3.0, "fft": 0.3, "implicit-gemm": 1.0, "im2col-gemm": 1.0, "naive": 0.05,
        "gemm-simd": 2.0, "gemm-blas": 1.0, "pointwise-naive": 0.05,
    ]

    public init(peakGflops: Double, bandwidthGBs: Double, efficiency: [String: Double] = [:],
                memoryEfficiency: [String: Double] = [:]) {
        self.peakGflops = peakGflops
        self.bandwidthGBs = bandwidthGBs
        self.efficiency = efficiency
        self.memoryEfficiency = memoryEfficiency
    }

    /// Seconds of arithmetic and of memory traffic at 100% efficiency.
    public func bounds(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> (compute: Double, memory: Double) {
        let w = algorithm.workEstimate(problem)
        return (w.flops / (peakGflops * 1e9), w.bytes / (bandwidthGBs * 1e9))
    }

    public static func family(_ name: String) -> String { String(name.prefix { $0 != "." }) }

    /// Seconds at 100% efficiency: the roofline bound.
    public func bound(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> Double {
        let b = bounds(algorithm, problem)
        return max(b.compute, b.memory)
    }

    public func efficiency(of name: String) -> Double {
        efficiency[name] ?? CostModel.defaultEfficiency[CostModel.family(name)] ?? 0.1
    }

    /// Predicted seconds.
    public func predict(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> Double {
        let b = bounds(algorithm, problem)
        let memory = memoryEfficiency[algorithm.name] ?? CostModel.defaultMemoryEfficiency[CostModel.family(algorithm.name)] ?? 1
        return max(b.compute / efficiency(of: algorithm.name), b.memory / memory)
    }
}
