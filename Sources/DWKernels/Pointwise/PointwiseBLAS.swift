import COpenBLAS
import CDNNL
import DWCore
#if canImport(Glibc)
import Glibc
#endif

/// Pointwise convolution as one library SGEMM per image on NCHW activations, Y (O × HW) = W (O × C) ·
/// X (C × HW), with the library's own threading; the bias enters through beta = 1 (Y prefilled with it),
/// activation and residual follow as a separate vectorised pass over Y — what a framework built on a
/// BLAS does.
/// The pre-BatchNorm is folded into W and the bias at preparation.
///
/// Backends: OpenBLAS `cblas_sgemm` (Debian libopenblas-dev) and oneDNN `dnnl_sgemm` (libdnnl-dev,
/// OpenMP threads). Results depend on the library's blocking, which may change with the thread count.
public struct PointwiseBLAS: PointwiseAlgorithm {
    public enum Backend: String, Sendable, CaseIterable {
        case openblas
        case onednn
    }

    public let backend: Backend
    public init(_ backend: Backend) { self.backend = backend }

    public var name: String { "gemm-blas.\(backend.rawValue)" }
    public var layout: Layout { .nchw }
    public var summary: String {
        switch backend {
        case .openblas: return "OpenBLAS cblas_sgemm per image (its threads), epilogue as a separate pass"
        case .onednn: return "oneDNN dnnl_sgemm per image (OpenMP threads), epilogue as a separate pass"
        }
    }

    public func supports(_ problem: PointwiseProblem) -> String? {
        // Both libraries take 32-bit dimensions here (cblas int; dnnl_dim_t is 64-bit but stay uniform).
        if problem.o > Int(Int32.max) || problem.c > Int(Int32.max) || problem.pixels > Int(Int32.max) {
            return "a GEMM dimension exceeds 2^31 − 1"
        }
        return nil
    }

    /// Compulsory bytes plus the epilogue pass over the output (read and write).
    public func workEstimate(_ problem: PointwiseProblem) -> WorkEstimate {
        WorkEstimate(flops: problem.flops, bytes: problem.bytes + 8.0 * Double(problem.outputCount))
    }

    public func prepare(_ problem: PointwiseProblem, weights: PointwiseWeights, epilogue: PointwiseEpilogue,
                        threads: Int) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseBLASPlan(problem: problem, weights: weights, epilogue: epilogue, backend: backend, threads: threads)
    }
}

final class PointwiseBLASPlan: PointwisePlan {
    let problem: PointwiseProblem
    let epilogue: PointwiseEpilogue
    var layout: Layout { .nchw }
    let backend: PointwiseBLAS.Backend
    let weights: AlignedBuffer
    let bias: [Float]
    let threads: Int

    init(problem: PointwiseProblem, weights w: PointwiseWeights, epilogue: PointwiseEpilogue,
         backend: PointwiseBLAS.Backend, threads: Int) {
        self.problem = problem
        self.epilogue = epilogue
        self.backend = backend
        let (folded, b) = w.folded()
        weights = AlignedBuffer(folded)
        bias = b
        self.threads = threads
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        precondition((residual != nil) == epilogue.residual, "residual must be given exactly when the epilogue adds one")
        let p = problem
        let m = p.o, n = p.pixels, k = p.c
        switch backend {
        case .openblas: openblas_set_num_threads(Int32(threads))
        case .onednn: OpenMP.setThreads(threads)
        }
        let act = epilogue.activation
        for image in 0..<p.n {
            let x = input + image * p.c * n, y = output + image * p.o * n
            // The bias goes in through beta = 1: rows prefilled with their bias, C = A·B + C.
            for o in 0..<m { (y + o * n).update(repeating: bias[o], count: n) }
            switch backend {
            case .openblas:
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k),
                            1, weights.pointer, Int32(k), x, Int32(n), 1, y, Int32(n))
            case .onednn:
                _ = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(m), Int64(n), Int64(k),
                               1, weights.pointer, Int64(k), x, Int64(n), 1, y, Int64(n))
            }
            if act != .none || residual != nil {
                applyRowEpilogue(y, residual.map { $0 + image * p.o * n }, count: m * n, act)
            }
        }
    }
}

/// Activation and residual over `count` contiguous outputs, on the calling thread: the library's
/// threads may still be spinning after the GEMM, and waking ours beside them would oversubscribe the cores.
func applyRowEpilogue(_ y: UnsafeMutablePointer<Float>, _ r: UnsafePointer<Float>?, count: Int,
                      _ act: PointwiseEpilogue.Activation) {
    var i = 0
    while i + 16 <= count {
        var v = EpilogueMath.apply(y.load16(i), act)
        if let r { v += r.load16(i) }
        y.store16(v, i)
        i += 16
    }
    while i < count {
        var v = EpilogueMath.apply(y[i], act)
        if let r { v += r[i] }
        y[i] = v
        i += 1
    }
}

/// The OpenMP runtime oneDNN runs on (libgomp), looked up at run time so nothing links against it directly.
enum OpenMP {
    typealias SetThreads = @convention(c) (Int32) -> Void
    nonisolated(unsafe) static let setter: SetThreads? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(symbol, to: SetThreads.self)
    }()

    static func setThreads(_ n: Int) { setter?(Int32(n)) }
}
