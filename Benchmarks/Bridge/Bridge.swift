import DWCore
import DWKernels
#if canImport(Glibc)
import Glibc
#endif

// C entry points for the Google Benchmark harness (Benchmarks/GBench). Everything the harness needs comes
// from the registry and the shape-file parser, so a new algorithm or shape file is benchmarked with no
// change here. Declared in Benchmarks/GBench/include/dwbench_bridge.h.

/// A prepared case: the algorithm's trial (plan plus native-layout buffers) on seeded data, and the pool it runs
/// on (the case's own, ended with it).
final class BridgeCase {
    let trial: Trial
    let problem: ConvProblem
    let pool: ThreadPool

    init(trial: Trial, problem: ConvProblem, pool: ThreadPool) {
        self.trial = trial
        self.problem = problem
        self.pool = pool
    }

    deinit { pool.shutdown() }
}

/// Copies `text` into a C buffer of `capacity` bytes, NUL-terminated (truncating if needed).
func copyOut(_ text: String, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int32) {
    guard let buffer, capacity > 0 else { return }
    let bytes = Array(text.utf8.prefix(Int(capacity) - 1))
    for (i, b) in bytes.enumerated() { buffer[i] = CChar(bitPattern: b) }
    buffer[bytes.count] = 0
}

@_cdecl("dw_algorithm_count")
public func dwAlgorithmCount() -> Int32 { Int32(Registry.all.count) }

@_cdecl("dw_algorithm_name")
public func dwAlgorithmName(_ index: Int32, _ buffer: UnsafeMutablePointer<CChar>?, _ capacity: Int32) {
    copyOut(Registry.all[Int(index)].name, buffer, capacity)
}

/// Prepares algorithm `index` on `problemText`. Returns NULL and writes the reason (refusal or invalid
/// problem) into `reason` when it cannot.
@_cdecl("dw_algorithm_solves")
public func dwAlgorithmSolves(_ index: Int32, _ problemText: UnsafePointer<CChar>) -> Int32 {
    guard let problem = try? ConvProblem(parsing: String(cString: problemText)) else { return 1 }  // dw_case_create reports it
    return Registry.all[Int(index)].kind == problem.kind ? 1 : 0
}

@_cdecl("dw_case_create")
public func dwCaseCreate(_ index: Int32, _ problemText: UnsafePointer<CChar>, _ threads: Int32,
                         _ reason: UnsafeMutablePointer<CChar>?, _ capacity: Int32) -> UnsafeMutableRawPointer? {
    do {
        let problem = try ConvProblem(parsing: String(cString: problemText))
        let algorithm = Registry.all[Int(index)]
        if let why = algorithm.supports(problem) { copyOut(why, reason, capacity); return nil }
        let pool = ThreadPool(threads: Int(max(1, threads)))
        do {
            let trial = try algorithm.trial(try TrialData(problem), executor: pool)
            return Unmanaged.passRetained(BridgeCase(trial: trial, problem: problem, pool: pool)).toOpaque()
        } catch {
            pool.shutdown()
            throw error
        }
    } catch {
        copyOut("\(error)", reason, capacity)
        return nil
    }
}

@_cdecl("dw_case_run")
public func dwCaseRun(_ handle: UnsafeMutableRawPointer) {
    Unmanaged<BridgeCase>.fromOpaque(handle).takeUnretainedValue().trial.run()
}

/// Direct-equivalent FLOPs of one run: 2·N·C·OH·OW·K² (depthwise), 2·N·O·C·H·W (pointwise).
@_cdecl("dw_case_flops")
public func dwCaseFlops(_ handle: UnsafeMutableRawPointer) -> Double {
    Unmanaged<BridgeCase>.fromOpaque(handle).takeUnretainedValue().problem.flops
}

/// Compulsory bytes of one run: input, weights and output once each.
@_cdecl("dw_case_bytes")
public func dwCaseBytes(_ handle: UnsafeMutableRawPointer) -> Double {
    Unmanaged<BridgeCase>.fromOpaque(handle).takeUnretainedValue().problem.bytes
}

@_cdecl("dw_case_destroy")
public func dwCaseDestroy(_ handle: UnsafeMutableRawPointer) {
    Unmanaged<BridgeCase>.fromOpaque(handle).release()
}

/// Loads a shape file. Returns NULL and writes the error into `error` on failure.
@_cdecl("dw_shapes_open")
public func dwShapesOpen(_ path: UnsafePointer<CChar>, _ message: UnsafeMutablePointer<CChar>?, _ capacity: Int32) -> UnsafeMutableRawPointer? {
    do {
        // A built-in set by name (works from any directory), a shape-file path, or comma-separated problems.
        let file = try ShapeFile.resolve(String(cString: path))
        return Unmanaged.passRetained(ShapeBox(file)).toOpaque()
    } catch {
        copyOut("\(error)", message, capacity)
        return nil
    }
}

final class ShapeBox {
    let file: ShapeFile
    init(_ file: ShapeFile) { self.file = file }
}

@_cdecl("dw_shapes_count")
public func dwShapesCount(_ handle: UnsafeMutableRawPointer) -> Int32 {
    Int32(Unmanaged<ShapeBox>.fromOpaque(handle).takeUnretainedValue().file.entries.count)
}

/// Writes entry `index`'s layer name and problem text form.
@_cdecl("dw_shapes_entry")
public func dwShapesEntry(_ handle: UnsafeMutableRawPointer, _ index: Int32,
                          _ name: UnsafeMutablePointer<CChar>?, _ problem: UnsafeMutablePointer<CChar>?, _ capacity: Int32) {
    let entry = Unmanaged<ShapeBox>.fromOpaque(handle).takeUnretainedValue().file.entries[Int(index)]
    copyOut(entry.name, name, capacity)
    copyOut(entry.problem.description, problem, capacity)
}

@_cdecl("dw_shapes_close")
public func dwShapesClose(_ handle: UnsafeMutableRawPointer) {
    Unmanaged<ShapeBox>.fromOpaque(handle).release()
}
