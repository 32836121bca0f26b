import COpenBLAS
import CDNNL
import DWCore
#if canImport(Glibc)
import Glibc
#endif

/// Pointwise convolution as library SGEMMs on NCHW activations, Y (O × HW) = W (O × C) · X (C × HW); the
/// bias enters through beta = 1 (Y prefilled with it), activation and residual follow as a separate
/// vectorised pass over Y — what a framework built on a BLAS does.
/// The pre-BatchNorm is folded into W and the bias at preparation.
///
/// Backends:
/// - OpenBLAS `cblas_sgemm` (Debian libopenblas-dev). With its own threads, results depended on the
///   thread count (1 vs 2 threads differed in the last bits; so did one whole call against the same GEMM
///   cut into 16-row-aligned slices), so the library runs single-threaded on a fixed grid of tiles, 256
///   output channels × 1024 pixels, spread over our threads: the same calls at every thread count, so
///   bitwise thread-invariant results (InvarianceTests checks it).
/// - oneDNN `dnnl_sgemm` (libdnnl-dev) with its own OpenMP threads: thread-invariant as it is
///   (checked for every algorithm by InvarianceTests).
public struct PointwiseBLAS: PointwiseAlgorithm {
    public enum Backend: String, Sendable, CaseIterable {
        case openblas
        case onednn
    }

    public let backend: Backend
    public init(_ backend: Backend) { self.backend = backend }

    public var name: String { "gemm-blas.\(backend.rawValue)" }
    public var family: String { "gemm-blas.\(backend.rawValue)" }
    public var defaultEfficiency: (compute: Double, memory: Double) { (0.5, 1.0) }
    public var layout: Layout { .nchw }
    public var summary: String {
        switch backend {
        case .openblas: return "OpenBLAS cblas_sgemm, single-threaded on a fixed grid of 256-channel × 1024-pixel tiles over our threads, epilogue as a separate pass"
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
                        executor: any Executor) throws -> any PointwisePlan {
        try validate(problem, weights)
        return PointwiseBLASPlan(problem: problem, weights: weights, epilogue: epilogue, backend: backend, executor: executor)
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
    let pool: any Executor

    /// The OpenBLAS call grid: 256 rows of W (fewer, and each call repacks its slice of X more often: 64
    /// rows cost 10% at one thread) by 1024 pixels (enough tiles for two threads on the early stages).
    static let openBLASRows = 256
    static let openBLASPixels = 1024

    init(problem: PointwiseProblem, weights w: PointwiseWeights, epilogue: PointwiseEpilogue,
         backend: PointwiseBLAS.Backend, executor: any Executor) {
        self.problem = problem
        self.epilogue = epilogue
        self.backend = backend
        let (folded, b) = w.folded()
        weights = AlignedBuffer(folded)
        bias = b
        threads = executor.threads
        pool = executor
    }

    func execute(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        precondition((residual != nil) == epilogue.residual, "residual must be given exactly when the epilogue adds one")
        if backend == .openblas {
            openblas_set_num_threads(1)
            executeOpenBLASTiles(input: input, output: output, residual: residual)
            return
        }
        let p = problem
        let m = p.o, n = p.pixels, k = p.c
        let act = epilogue.activation
        OpenMP.setThreads(threads)
        for image in 0..<p.n {
            let x = input + image * p.c * n, y = output + image * p.o * n
            // The bias goes in through beta = 1: rows prefilled with their bias, C = A·B + C.
            for o in 0..<m { (y + o * n).update(repeating: bias[o], count: n) }
            _ = dnnl_sgemm(CChar(UInt8(ascii: "N")), CChar(UInt8(ascii: "N")), Int64(m), Int64(n), Int64(k),
                           1, weights.pointer, Int64(k), x, Int64(n), 1, y, Int64(n))
            if act != .none || residual != nil {
                applyRowEpilogue(y, residual.map { $0 + image * p.o * n }, count: m * n, act)
            }
        }
    }

    /// OpenBLAS, single-threaded, one call per tile of a fixed grid — (image, 256 rows of W and Y, 1024
    /// pixels) — spread over our pool. The grid does not depend on the thread count, so every thread count
    /// makes the same library calls and gets the same bits. Each task prefills its bias and applies the
    /// epilogue to its tile while it is in cache.
    private func executeOpenBLASTiles(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) {
        let p = problem, n = p.pixels, k = p.c
        let (rowTile, colTile) = (Self.openBLASRows, Self.openBLASPixels)
        let rowTiles = (p.o + rowTile - 1) / rowTile, colTiles = (n + colTile - 1) / colTile
        let x0 = SendablePointer(input), y0 = SendableMutablePointer(output), r0 = residual.map(SendablePointer.init)
        let w0 = SendablePointer(UnsafePointer(weights.pointer))
        let bias = bias, act = epilogue.activation
        pool.parallelFor(count: p.n * rowTiles * colTiles) { task, _ in
            let image = task / (rowTiles * colTiles), tile = task % (rowTiles * colTiles)
            let first = (tile / colTiles) * rowTile, rows = min(rowTile, p.o - first)
            let col = (tile % colTiles) * colTile, cols = min(colTile, n - col)
            let x = x0.pointer + image * p.c * n + col
            let offset = (image * p.o + first) * n + col, y = y0.pointer + offset
            for o in 0..<rows { (y + o * n).update(repeating: bias[first + o], count: cols) }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(cols), Int32(k),
                        1, w0.pointer + first * k, Int32(k), x, Int32(n), 1, y, Int32(n))
            if act != .none || r0 != nil {
                for o in 0..<rows {
                    applyRowEpilogue(y + o * n, r0.map { $0.pointer + offset + o * n }, count: cols, act)
                }
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
    static let setter: SetThreads? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(symbol, to: SetThreads.self)
    }()

    static func setThreads(_ n: Int) { setter?(Int32(n)) }
}
