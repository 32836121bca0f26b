import DWCore
import DWKernels
import DWTune
import Foundation

/// The committed baseline of the gate: the machine and build it was recorded on, and per checked problem
/// the algorithm (the tuner's choice then), its calibration ratios and median kernel time.
///
/// Read only through `decode(_:path:)`, which validates what JSON decoding alone cannot: the schema
/// version, problem keys that parse, no duplicates, a thread count in range, and ratios and times that
/// are finite and positive (a baseline is compared arithmetically, so a NaN would pass every check).
public struct GateBaseline: Codable, Sendable, Equatable {
    public static let schemaVersion = 1
    public var schema_version: Int
    public var created: String
    public var machine: MachineFingerprint
    public var build: BuildSignature
    public var threads: Int
    public var calibration: String
    public var entries: [Entry]

    public struct Entry: Codable, Sendable, Equatable {
        public var problem: String
        public var algorithm: String
        public var ratios: [Double]
        public var median_ratio: Double
        public var kernel_ms: Double
        public var relative_error: Double
        public init(problem: String, algorithm: String, ratios: [Double], kernel_ms: Double, relative_error: Double) {
            self.problem = problem
            self.algorithm = algorithm
            self.ratios = ratios
            median_ratio = median(ratios)
            self.kernel_ms = kernel_ms
            self.relative_error = relative_error
        }
    }

    public init(created: String, machine: MachineFingerprint, build: BuildSignature, threads: Int, entries: [Entry]) {
        schema_version = GateBaseline.schemaVersion
        self.created = created
        self.machine = machine
        self.build = build
        self.threads = threads
        calibration = "per thread: 2^19 iterations of the 16-chain SIMD16 FMA loop + 2^10 sweeps of load-fed FMAs over 128 KiB + 8 triads over 3 × 2 MiB, alternated with each kernel repetition"
        self.entries = entries
    }

    /// Parses and validates a baseline; every error is one line naming `path` and the field.
    public static func decode(_ data: Data, path: String) throws -> GateBaseline {
        func fail(_ why: String) -> GateBaselineError { GateBaselineError(description: "\(path): not a dwbench check baseline: \(why)") }
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw fail("not a JSON object")
        }
        guard let version = dict["schema_version"] as? Int else { throw fail("missing schema_version") }
        guard version == schemaVersion else { throw fail("schema_version \(version), this dwbench reads \(schemaVersion)") }
        let baseline: GateBaseline
        do { baseline = try JSONDecoder().decode(GateBaseline.self, from: data) } catch let error as DecodingError {
            throw fail(Plan.describe(error))
        }
        guard (1...ThreadPool.maxThreads).contains(baseline.threads) else { throw fail("threads \(baseline.threads) is not in 1…\(ThreadPool.maxThreads)") }
        var seen = Set<String>()
        for entry in baseline.entries {
            let key = entry.problem
            guard let problem = try? ConvProblem(parsing: key), problem.description == key else {
                throw fail("entry '\(key)' is not a problem's text form")
            }
            guard seen.insert(key).inserted else { throw fail("problem \(key) appears twice") }
            guard !entry.ratios.isEmpty else { throw fail("\(key): no ratios") }
            for (field, values) in [("ratios", entry.ratios), ("median_ratio", [entry.median_ratio]), ("kernel_ms", [entry.kernel_ms])] {
                guard values.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw fail("\(key): \(field) must be finite and positive") }
            }
            guard entry.relative_error.isFinite, entry.relative_error >= 0 else { throw fail("\(key): relative_error must be finite and non-negative") }
        }
        return baseline
    }

    /// Reads and validates `path`.
    public static func load(path: String) throws -> GateBaseline {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw GateBaselineError(description: "\(path): cannot read the baseline")
        }
        return try decode(data, path: path)
    }

    /// Pretty-printed JSON with sorted keys (readable diffs of the committed baseline).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// A baseline file that cannot be used.
public struct GateBaselineError: Error, CustomStringConvertible {
    public let description: String
}
