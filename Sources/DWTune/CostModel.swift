import DWCore
import DWKernels

/// The estimate mode's roofline: an algorithm's time on a problem is
/// max(FLOPs / (peak · e_c), bytes / (bandwidth · e_m)), with its compute efficiency e_c and memory
/// efficiency e_m measured by a previous measure-mode run (stored in the plan's calibration) or, without
/// one, the defaults each algorithm declares (`ConvolutionAlgorithm.defaultEfficiency`). e_m can exceed 1: small layers stay in cache, faster than streaming bandwidth.
public struct CostModel: Sendable {
    public var peakGflops: Double
    /// The bf16 dot-product peak that bounds bf16 algorithms (`ConvolutionAlgorithm.arithmetic`); nil when the
    /// CPU has none (those algorithms refuse there; an estimate then assumes twice the fp32 peak).
    public var bf16PeakGflops: Double?
    public var bandwidthGBs: Double
    /// Compute efficiency per registry name; names missing here use the algorithm's own `defaultEfficiency`.
    public var efficiency: [String: Double]
    /// Memory efficiency per registry name; missing names use the algorithm's own `defaultEfficiency`.
    public var memoryEfficiency: [String: Double]

    /// The model for `threads` threads from measured machine speeds.
    public init(speed: MachineSpeed, threads: Int) {
        let peaks = speed.peaks(threads: threads)
        self.init(peakGflops: peaks.fp32, bf16PeakGflops: peaks.bf16, bandwidthGBs: speed.bandwidthGBs(threads: threads))
    }

    /// The model a plan's calibration records (`dwbench tune --calibration`).
    public init(calibration c: Plan.Calibration) {
        self.init(peakGflops: c.peak_gflops, bf16PeakGflops: c.bf16_peak_gflops, bandwidthGBs: c.bandwidth_gbs, efficiency: c.efficiency,
                  memoryEfficiency: c.memory_efficiency)
    }

    public init(peakGflops: Double, bf16PeakGflops: Double? = nil, bandwidthGBs: Double, efficiency: [String: Double] = [:],
                memoryEfficiency: [String: Double] = [:]) {
        self.peakGflops = peakGflops
        self.bf16PeakGflops = bf16PeakGflops
        self.bandwidthGBs = bandwidthGBs
        self.efficiency = efficiency
        self.memoryEfficiency = memoryEfficiency
    }

    /// Seconds of arithmetic and of memory traffic at 100% efficiency.
    public func bounds(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> (compute: Double, memory: Double) {
        let w = algorithm.workEstimate(problem)
        return (w.flops / (peak(algorithm.arithmetic) * 1e9), w.bytes / (bandwidthGBs * 1e9))
    }

    /// The arithmetic peak (GFLOP/s) for an algorithm multiplying in `arithmetic`.
    public func peak(_ arithmetic: Precision) -> Double {
        Peaks(fp32: peakGflops, bf16: bf16PeakGflops).roofline(for: arithmetic)
    }

    /// Seconds at 100% efficiency: the roofline bound.
    public func bound(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> Double {
        let b = bounds(algorithm, problem)
        return max(b.compute, b.memory)
    }

    /// The compute and memory efficiencies used for `algorithm`: calibrated, or its declared defaults.
    public func efficiencies(of algorithm: any ConvolutionAlgorithm) -> (compute: Double, memory: Double) {
        (efficiency[algorithm.name] ?? algorithm.defaultEfficiency.compute, memoryEfficiency[algorithm.name] ?? algorithm.defaultEfficiency.memory)
    }

    /// Predicted seconds.
    public func predict(_ algorithm: any ConvolutionAlgorithm, _ problem: ConvProblem) -> Double {
        let b = bounds(algorithm, problem), e = efficiencies(of: algorithm)
        return max(b.compute / e.compute, b.memory / e.memory)
    }
}
