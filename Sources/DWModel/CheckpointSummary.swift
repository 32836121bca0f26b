import DWCore
import Foundation

/// What a checkpoint holds and how fast it reads: the format, where the state dict was found, its tensors
/// by dtype, what was skipped, the inferred RepLKNet architecture (or why none), and the time to open the
/// file, to load every weight (each tensor's float32 values summed: through a view of the mapped file where
/// the layout allows, else converted), and to copy every weight into a float32 array, one at a time.
/// `dwbench checkpoint` prints it; the load-speed record in Results/ is made with it.
public struct CheckpointSummary: Codable, Sendable {
    public var file: String
    public var bytes: Int
    public var format: String
    public var state_dict: String
    public var tensors: Int
    public var elements: Int
    public var dtypes: [String: Int]
    public var notes: [String]
    public var opaque_globals: [String]
    public var architecture: String?
    public var architecture_error: String?
    public var parameters: Int?
    public var open_seconds: Double
    /// Loading: every weight's values reached (zero-copy where the layout allows) and summed.
    public var load_seconds: Double
    /// Bytes of the weights (as stored), and the load rate.
    public var load_bytes: Int
    public var load_gb_per_s: Double
    /// Tensors read in place (contiguous little-endian F32) and converted.
    public var zero_copy_tensors: Int
    /// Copying every weight into a new float32 array, one at a time (what a loader without views pays).
    public var copy_seconds: Double
    /// Sum of every weight (a checksum that keeps the reads from being optimised away).
    public var checksum: Double
    public var peak_rss_bytes: Int

    public static func measure(path: String, modelKey: String? = nil) throws -> CheckpointSummary {
        let t0 = monotonicSeconds()
        let checkpoint = try Checkpoint.load(path: path, modelKey: modelKey)
        let opened = monotonicSeconds() - t0
        var dtypes: [String: Int] = [:]
        var elements = 0, loadBytes = 0, zeroCopy = 0
        var checksum = 0.0
        let names = checkpoint.tensors.keys.sorted()
        let t1 = monotonicSeconds()
        for name in names {
            let t = checkpoint.tensors[name]!
            dtypes[t.dtype.rawValue, default: 0] += 1
            elements += t.shape.reduce(1, *)
            guard t.dtype.isWeightType else { continue }
            if t.isZeroCopy { zeroCopy += 1 }
            checksum += try t.withFloats(name: name) { v in
                var s = SIMD16<Float>(), i = 0
                while i + 16 <= v.count { s += SIMD16(v[i ..< i + 16]); i += 16 }
                var total = Double(s.sum())
                while i < v.count { total += Double(v[i]); i += 1 }
                return total
            }
            loadBytes += t.shape.reduce(1, *) * t.dtype.size
        }
        let load = monotonicSeconds() - t1
        let t2 = monotonicSeconds()
        for name in names where checkpoint.tensors[name]!.dtype.isWeightType {
            let values = try checkpoint.tensors[name]!.floats(name: name)
            precondition(values.count == checkpoint.tensors[name]!.shape.reduce(1, *))
        }
        let copy = monotonicSeconds() - t2
        var architecture: String?, error: String?, parameters: Int?
        do {
            let config = try RepLKNetConfig.infer(from: checkpoint)
            architecture = "\(config)"
            parameters = checkpoint.tensors.values.reduce(0) { $0 + $1.shape.reduce(1, *) }
        } catch let e { error = "\(e)" }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return CheckpointSummary(file: path, bytes: size, format: checkpoint.format?.rawValue ?? "in memory",
                                 state_dict: checkpoint.origin, tensors: checkpoint.tensors.count, elements: elements, dtypes: dtypes,
                                 notes: checkpoint.notes, opaque_globals: checkpoint.opaqueGlobals, architecture: architecture, architecture_error: error,
                                 parameters: parameters, open_seconds: opened, load_seconds: load, load_bytes: loadBytes,
                                 load_gb_per_s: load > 0 ? Double(loadBytes) / load / 1e9 : 0, zero_copy_tensors: zeroCopy,
                                 copy_seconds: copy, checksum: checksum, peak_rss_bytes: peakResidentBytes())
    }
}
