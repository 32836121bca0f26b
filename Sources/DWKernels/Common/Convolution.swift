import DWCore

/// Convenience front end: run one algorithm on NCHW data, converting to and from its native layout.
/// For timing, use `prepare` / `execute` directly; this path includes conversions and preparation.
public enum DepthwiseConvolution {
    /// Runs `algorithm` on `input` (NCHW, the problem's input shape) and returns the NCHW output.
    public static func run(_ algorithm: any DepthwiseAlgorithm, problem: Problem, weights: DepthwiseWeights,
                           input: Tensor, executor: any Executor) throws -> Tensor {
        precondition(input.n == problem.n && input.c == problem.c && input.h == problem.h && input.w == problem.w,
                     "input shape does not match the problem")
        let plan = try algorithm.prepare(problem, weights: weights, executor: executor)
        let native = input.converted(to: plan.layout)
        let out = Tensor(n: problem.n, c: problem.c, h: problem.oh, w: problem.ow, layout: plan.layout)
        plan.execute(input: native.pointer, output: out.pointer)
        return out.converted(to: .nchw)
    }

    /// The heuristic used where no tuning plan covers a problem (`Planner`), read off Results/README.md: the FFT for stride-1 kernels of
    /// 13×13 taps and more on maps of at least 20×20 outputs (its work does not grow with the taps); otherwise the direct
    /// kernel, in two-row blocks where rows are wide enough for them (stride 1, OW ≥ 16); maps at most 14 wide
    /// under kernels of 5×5 taps and more go to the row-pair Toeplitz kernel (1.4–1.6× the direct kernel on RepLKNet's
    /// 14×14 K27 and 7×7 K13 layers); stripes (13+ taps one way, 7 or fewer the other) on such maps to `fft-stripe`.
    public static func automaticChoice(for problem: Problem) -> any DepthwiseAlgorithm {
        let stride1 = problem.sh == 1 && problem.sw == 1
        if problem.taps >= 25, ToeplitzRows().supports(problem) == nil { return ToeplitzRows() }
        // A stripe (13 or more taps along one axis, 7 or fewer along the other: SLaK's 51×5 and 5×51) transforms along its
        // long axis only (1.0 against fft.t128's 1.5 ms on SLaK-T's 5×51 at 56², and equal on its 51×5).
        let (long, short) = (max(problem.kh, problem.kw), min(problem.kh, problem.kw))
        if stride1, long >= 13, short <= 7, problem.oh * problem.ow >= 400 {
            let stripe = FFTStripe(axis: problem.kh >= problem.kw ? .height : .width)
            if stripe.supports(problem) == nil { return stripe }
        }
        let fft = FFTConvolution(maxTile: 128)
        if stride1, problem.taps >= 169, problem.oh * problem.ow >= 400, fft.supports(problem) == nil {
            return fft
        }
        if stride1 && problem.ow >= 16 { return DirectSIMD(width: 8, rows: 2) }
        return DirectSIMD(width: 16)
    }
}
