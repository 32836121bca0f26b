import DWCore
import Foundation

/// A tuning plan: which algorithm to run for each problem on one machine, build and thread count, with
/// the evidence (every candidate's timing) and the calibration the estimate mode uses. Serialised as
/// JSON (`plan.schema.json`); other tools read it (Benchmarks/plan/dwplan.py, libdwconv).
///
/// Versions: 3 (written) allows the per-axis depthwise problems (rectangular kernels, per-axis stride and
/// padding, dilation) in its keys; 2 (still read) holds square problems only, and records each entry's
/// `precision` and the calibration's bf16 peak; 1 (still read) has neither, and its entries are fp32. An older
/// plan is upgraded in memory when read.
public struct Plan: Codable, Sendable, Equatable {
    public static let schemaVersion = 3
    /// The versions this build reads.
    public static let readableVersions = [1, 2, 3]

    public var schema_version: Int
    /// The tool that wrote it, e.g. "dwbench 0.2.0".
    public var generator: String
    /// ISO 8601 UTC time of writing.
    public var created: String
    public var machine: MachineFingerprint
    public var build: BuildSignature
    public var threads: Int
    /// Calibration of the cost model: measured peak, bandwidth and per-family efficiency factors.
    public var calibration: Calibration
    /// One entry per problem, keyed by the problem's text form.
    public var entries: [String: Entry]

    /// How an entry was chosen: timed with early dropping, timed exhaustively, or predicted by the cost model.
    public enum Mode: String, Codable, CaseIterable, Sendable { case estimate, measure, exhaustive }

    /// What became of a candidate: timed to the end, dropped after the quick round (slower than the
    /// early-stop factor), predicted (estimate mode), or refused (with the reason).
    public enum Status: String, Codable, CaseIterable, Sendable { case measured, dropped, estimated, refused }

    public struct Entry: Codable, Sendable, Equatable {
        /// The problem's text form (equal to the key).
        public var problem: String
        /// The arithmetic the problem allowed (its text form's suffix says the same; version-1 entries are fp32).
        public var precision: Precision
        /// The chosen registry name (parameters included).
        public var algorithm: String
        public var mode: Mode
        public var threads: Int
        /// Runner-up time / chosen time − 1 (0 when there is no runner-up).
        public var margin: Double
        /// False when the top two are within the measurement noise (their spreads overlap the margin).
        public var confident: Bool
        public var candidates: [Candidate]

        public init(problem: String, precision: Precision, algorithm: String, mode: Mode, threads: Int, margin: Double,
                    confident: Bool, candidates: [Candidate]) {
            self.problem = problem
            self.precision = precision
            self.algorithm = algorithm
            self.mode = mode
            self.threads = threads
            self.margin = margin
            self.confident = confident
            self.candidates = candidates
        }

        enum CodingKeys: String, CodingKey { case problem, precision, algorithm, mode, threads, margin, confident, candidates }

        /// Which of this entry's numbers is outside `Plan.Limits` (field named), or nil.
        public func rangeViolation() -> String? {
            let checks = [Limits.outside("threads", threads, Limits.threads), Limits.outside("margin", margin, Limits.margin)]
                + candidates.flatMap { c in
                    [c.median_ms.flatMap { Limits.outside("candidate \(c.algorithm): median_ms", $0, Limits.milliseconds) },
                     c.spread.flatMap { Limits.outside("candidate \(c.algorithm): spread", $0, Limits.spread) }]
                }
            return checks.lazy.compactMap { $0 }.first
        }

        /// Reads both versions: a missing `precision` (version 1) is fp32; `Plan.decode` requires it in version 2.
        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            problem = try c.decode(String.self, forKey: .problem)
            precision = try c.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
            algorithm = try c.decode(String.self, forKey: .algorithm)
            mode = try c.decode(Mode.self, forKey: .mode)
            threads = try c.decode(Int.self, forKey: .threads)
            margin = try c.decode(Double.self, forKey: .margin)
            confident = try c.decode(Bool.self, forKey: .confident)
            candidates = try c.decode([Candidate].self, forKey: .candidates)
        }
    }

    public struct Candidate: Codable, Sendable, Equatable {
        public var algorithm: String
        /// Measured (or, in estimate mode, predicted) median time.
        public var median_ms: Double?
        /// (max − min) / median of the repetitions.
        public var spread: Double?
        public var status: Status
        public var reason: String?

        public init(algorithm: String, median_ms: Double? = nil, spread: Double? = nil, status: Status, reason: String? = nil) {
            self.algorithm = algorithm
            self.median_ms = median_ms
            self.spread = spread
            self.status = status
            self.reason = reason
        }
    }

    public struct Calibration: Codable, Sendable, Equatable {
        public var peak_gflops: Double
        /// The bf16 dot-product peak for the plan's thread count (version 2; absent without avx512_bf16).
        public var bf16_peak_gflops: Double?
        public var bandwidth_gbs: Double
        /// Per registry name: fraction of the arithmetic bound (FLOPs / peak) reached, the median over the
        /// measured problems where arithmetic dominates.
        public var efficiency: [String: Double]
        /// Per registry name: the same for the memory bound (bytes / bandwidth) where memory dominates;
        /// above 1 when the data stays in cache.
        public var memory_efficiency: [String: Double]

        public init(peak_gflops: Double, bf16_peak_gflops: Double? = nil, bandwidth_gbs: Double, efficiency: [String: Double],
                    memory_efficiency: [String: Double]) {
            self.peak_gflops = peak_gflops
            self.bf16_peak_gflops = bf16_peak_gflops
            self.bandwidth_gbs = bandwidth_gbs
            self.efficiency = efficiency
            self.memory_efficiency = memory_efficiency
        }
    }

    /// An interval of plan numbers: from `lower` (or above it, when `lowerIncluded` is false) up to `upper`.
    /// NaN is in none.
    public struct NumberRange: Sendable {
        public var lower: Double
        public var lowerIncluded: Bool
        public var upper: Double

        public func contains(_ x: Double) -> Bool { (lowerIncluded ? x >= lower : x > lower) && x <= upper }

        /// "[0, 1e+06]" or "(0, 1e+09]".
        public var text: String { "\(lowerIncluded ? "[" : "(")\(String(format: "%g", lower)), \(String(format: "%g", upper))]" }
    }

    /// The range of every number in a plan, checked where a plan is read (`schemaViolation`): a value outside is
    /// a refusal naming the entry and field. `plan.schema.json` (minimum, exclusiveMinimum, maximum) and
    /// Benchmarks/plan/dwplan.py state the same limits (PlanCommandTests compares them). The upper bounds lie
    /// far beyond any real measurement; they keep what readers derive (percentages, ratios, conversions to Int)
    /// finite.
    public enum Limits {
        /// Runner-up time / chosen time − 1 (the tuner records a larger margin as this bound).
        public static let margin = NumberRange(lower: 0, lowerIncluded: true, upper: 1e6)
        /// A candidate's median time in milliseconds (1e9 ms is 11.6 days).
        public static let milliseconds = NumberRange(lower: 0, lowerIncluded: false, upper: 1e9)
        /// (max − min) / median of a candidate's repetitions.
        public static let spread = NumberRange(lower: 0, lowerIncluded: true, upper: 1e6)
        /// peak_gflops and bf16_peak_gflops (GFLOP/s), and bandwidth_gbs (GB/s).
        public static let rate = NumberRange(lower: 0, lowerIncluded: false, upper: 1e9)
        /// Efficiencies: fractions of a roofline bound (a memory one above 1 where data stays in cache).
        public static let efficiency = NumberRange(lower: 0, lowerIncluded: false, upper: 1e6)
        /// The plan's and each entry's thread count.
        public static let threads = 1...ThreadPool.maxThreads
        /// The machine's logical CPUs, and how many share one cache.
        public static let cores = 1...(1 << 20)
        public static let numaNodes = 1...(1 << 16)
        public static let cacheLevel = 1...15
        /// Bytes of one cache (up to 1 PiB).
        public static let cacheBytes = 0...(1 << 50)
        /// CPUID family, model and stepping.
        public static let cpuid = 0...0xFFFF

        /// "field x is outside range" when `x` is, else nil.
        static func outside(_ field: String, _ x: Double, _ range: NumberRange) -> String? {
            range.contains(x) ? nil : "\(field) \(x) is outside \(range.text)"
        }

        static func outside(_ field: String, _ x: Int, _ range: ClosedRange<Int>) -> String? {
            range.contains(x) ? nil : "\(field) \(x) is outside \(range.lowerBound)…\(range.upperBound)"
        }
    }

    public init(generator: String, created: String, machine: MachineFingerprint, build: BuildSignature, threads: Int,
                calibration: Calibration, entries: [String: Entry]) {
        schema_version = Plan.schemaVersion
        self.generator = generator
        self.created = created
        self.machine = machine
        self.build = build
        self.threads = threads
        self.calibration = calibration
        self.entries = entries
    }
}

/// What built the binary that tuned: a plan tuned by another build may pick names that no longer
/// exist or whose code changed, so it is not trusted silently.
public struct BuildSignature: Codable, Sendable, Equatable {
    public var package_version: String
    /// FNV-1a of the registry's names (which carry every parameter), in order.
    public var registry_hash: String
    public var compiler: String
    public var flags: String

    public static let packageVersion = "0.2.0"

    /// What `dwbench --version` prints: the package version and this build's signature.
    public var versionLine: String {
        "dwbench \(package_version) (\(compiler), \(flags), registry \(registry_hash))"
    }

    public static func current(registryNames: [String]) -> BuildSignature {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in registryNames.joined(separator: "\n").utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        return BuildSignature(package_version: packageVersion, registry_hash: String(hash, radix: 16),
                              compiler: compilerVersion, flags: "-c release, -target-cpu native")
    }

    static var compilerVersion: String {
        #if compiler(>=6.4)
        return "Swift 6.4 or later"
        #elseif compiler(>=6.3)
        return "Swift 6.3"
        #elseif compiler(>=6.2)
        return "Swift 6.2"
        #else
        return "Swift 6.0–6.1"
        #endif
    }
}

/// Why a plan cannot be used as it is.
public enum PlanError: Error, CustomStringConvertible {
    case malformed(String, String)
    case schemaVersion(String, Int)
    case unknownAlgorithm(String, String, String)
    case inconsistent(String, String)

    public var description: String {
        switch self {
        case let .malformed(path, why): return "\(path): not a valid plan: \(why)"
        case let .schemaVersion(path, v): return "\(path): unknown plan schema_version \(v) (this dwbench reads \(Plan.readableVersions.map(String.init).joined(separator: " and ")))"
        case let .unknownAlgorithm(path, key, name): return "\(path): entry \(key) names unknown algorithm '\(name)'"
        case let .inconsistent(path, why): return "\(path): \(why)"
        }
    }
}

extension Plan {
    /// Reads and validates a plan file: JSON syntax, schema version, required fields, keys that parse
    /// and match their entry, and algorithm names in `registry`.
    public static func load(path: String, registry: [String]) throws -> Plan {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            // (A PlanError, so that libdwconv still answers DWCONV_ERROR_PLAN; the OS's reason, not "not a valid plan".)
            throw PlanError.inconsistent(path, "cannot read the plan file: \(FileError.reason(of: error))")
        }
        return try decode(data, path: path, registry: registry)
    }

    public static func decode(_ data: Data, path: String, registry: [String]) throws -> Plan {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            // Foundation names the fault (e.g. "Number 1e400 is not representable in Swift.") only in the debug description.
            let why = ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String)
                .map { " (\($0.split(separator: "\n").first?.prefix(200) ?? ""))" } ?? ""
            throw PlanError.malformed(path, "not a JSON object\(why)")
        }
        guard let dict = object as? [String: Any] else { throw PlanError.malformed(path, "not a JSON object") }
        guard let version = dict["schema_version"] as? Int else { throw PlanError.malformed(path, "missing schema_version") }
        guard readableVersions.contains(version) else { throw PlanError.schemaVersion(path, version) }
        if version >= 2, let entries = dict["entries"] as? [String: Any] {
            for (key, entry) in entries where (entry as? [String: Any])?["precision"] == nil {
                throw PlanError.malformed(path, "missing 'precision' at entries.\(key) (required from schema_version 2)")
            }
        }
        var plan: Plan
        do { plan = try JSONDecoder().decode(Plan.self, from: data) } catch let error as DecodingError {
            throw PlanError.malformed(path, describe(error))
        }
        if let why = plan.schemaViolation() { throw PlanError.malformed(path, why) }
        for (key, entry) in plan.entries {
            guard let problem = try? ConvProblem(parsing: key), problem.description == key, key == entry.problem else {
                throw PlanError.inconsistent(path, "entry key '\(key)' is not the text form of its problem '\(entry.problem)'")
            }
            if version < 3, case let .depthwise(d) = problem, !d.isSquare {
                throw PlanError.malformed(path, "entry key '\(key)' has a per-axis geometry, which needs schema_version 3 (this plan is version \(version))")
            }
            guard problem.precision == entry.precision else {
                throw PlanError.inconsistent(path, "entry \(key) records precision \(entry.precision), its problem is \(problem.precision)")
            }
            guard registry.contains(entry.algorithm) else { throw PlanError.unknownAlgorithm(path, key, entry.algorithm) }
        }
        plan.schema_version = schemaVersion  // read as version 1, 2 or 3, held (and written again) as the current one
        return plan
    }

    /// The value constraints `plan.schema.json` states (vocabularies and the numeric ranges of `Limits`), checked
    /// the same way here so that the schema and this reader accept the same plans
    /// (`PlanCommandTests.testSchemaAndReadersAgreeOnCorruptedPlans`). Names the field (and entry) at fault.
    public func schemaViolation() -> String? {
        var checks = [Limits.outside("machine.cores", machine.cores, Limits.cores),
                      Limits.outside("machine.numaNodes", machine.numaNodes, Limits.numaNodes)]
        for (field, value) in [("family", machine.family), ("model", machine.model), ("stepping", machine.stepping)] {
            checks.append(value.flatMap { Limits.outside("machine.\(field)", $0, Limits.cpuid) })
        }
        for (i, c) in machine.caches.enumerated() {
            checks += [Limits.outside("machine.caches.\(i).level", c.level, Limits.cacheLevel),
                       Limits.outside("machine.caches.\(i).bytes", c.bytes, Limits.cacheBytes),
                       Limits.outside("machine.caches.\(i).sharedBy", c.sharedBy, Limits.cores)]
        }
        checks += [Limits.outside("threads", threads, Limits.threads),
                   Limits.outside("calibration.peak_gflops", calibration.peak_gflops, Limits.rate),
                   calibration.bf16_peak_gflops.flatMap { Limits.outside("calibration.bf16_peak_gflops", $0, Limits.rate) },
                   Limits.outside("calibration.bandwidth_gbs", calibration.bandwidth_gbs, Limits.rate)]
        for (table, values) in [("efficiency", calibration.efficiency), ("memory_efficiency", calibration.memory_efficiency)] {
            checks += values.keys.sorted().map { Limits.outside("calibration.\(table).\($0)", values[$0]!, Limits.efficiency) }
        }
        if let why = checks.lazy.compactMap({ $0 }).first { return why }
        for key in entries.keys.sorted() {
            if let why = entries[key]!.rangeViolation() { return "entry \(key): \(why)" }
        }
        return nil
    }

    public static func describe(_ error: DecodingError) -> String {
        switch error {
        case let .keyNotFound(key, ctx): return "missing '\(key.stringValue)' at \(pathText(ctx.codingPath))"
        case let .typeMismatch(_, ctx), let .valueNotFound(_, ctx), let .dataCorrupted(ctx):
            return "\(ctx.debugDescription) at \(pathText(ctx.codingPath))"
        @unknown default: return "\(error)"
        }
    }

    static func pathText(_ path: [CodingKey]) -> String {
        path.isEmpty ? "top level" : path.map(\.stringValue).joined(separator: ".")
    }

    /// The plan as JSON, keys sorted so that diffs of committed plans stay readable.
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// `fraction` as a whole percentage ("12%"). Never traps: a value that no Int holds (or not finite) prints as a Double.
    public static func percentText(_ fraction: Double) -> String {
        let percent = (fraction * 100).rounded()
        return Int(exactly: percent).map { "\($0)%" } ?? "\(percent)%"
    }

    /// Writes atomically: an interrupted write leaves the previous file intact. A plan that its own reader would
    /// refuse (a number outside `Limits`) is not written: the error says why.
    public func write(path: String) throws {
        if let why = schemaViolation() { throw PlanError.inconsistent(path, "not writing an invalid plan: \(why)") }
        try AtomicFile.write(try encoded(), to: path)
    }

    /// Why this plan does not describe this machine and build, or nil when it does.
    public func mismatch(machine: MachineFingerprint, build: BuildSignature, threads: Int? = nil) -> String? {
        let differences = self.machine.differences(from: machine)
        if !differences.isEmpty {
            return "it was tuned on another machine (\(differences.joined(separator: "; ")))"
        }
        if self.build != build {
            return "it was tuned by another build (dwbench \(self.build.package_version), registry \(self.build.registry_hash), \(self.build.compiler); this is \(build.package_version), registry \(build.registry_hash), \(build.compiler))"
        }
        if let threads, threads != self.threads {
            return "it was tuned for \(self.threads) thread\(self.threads == 1 ? "" : "s"), not \(threads): run with --threads \(self.threads) to use it, or tune again with --threads \(threads)"
        }
        return nil
    }

    /// Whether two plans describe the same machine, build and thread count (so their entries may be combined).
    public func isCompatible(with other: Plan) -> Bool {
        machine.differences(from: other.machine).isEmpty && build == other.build && threads == other.threads
    }

    /// Merges any number of plans. The plans compatible with this machine and build (`machine`, `build`)
    /// are combined, a newer plan's entry replacing an older one's for the same problem; the others are
    /// dropped, and `dropped` says which and why. With no plan from here, all must be mutually compatible.
    public static func merge(_ plans: [(name: String, plan: Plan)], machine: MachineFingerprint, build: BuildSignature)
        throws -> (plan: Plan, dropped: [String]) {
        guard let first = plans.first else { throw PlanError.inconsistent("merge", "no plans to merge") }
        let local = plans.filter { $0.plan.mismatch(machine: machine, build: build) == nil }
        let anchor = local.first ?? first
        var kept: [(name: String, plan: Plan)] = [], dropped: [String] = []
        for p in plans {
            if p.plan.isCompatible(with: anchor.plan) { kept.append(p); continue }
            guard !local.isEmpty else {
                throw PlanError.inconsistent(p.name, "tuned elsewhere than \(anchor.name) and neither is from this machine and build (\(p.plan.mismatch(machine: anchor.plan.machine, build: anchor.plan.build, threads: anchor.plan.threads) ?? "")); merge them where they were tuned")
            }
            dropped.append("\(p.name): \(p.plan.entries.count) entries dropped, because \(p.plan.mismatch(machine: machine, build: build, threads: anchor.plan.threads) ?? "it differs from \(anchor.name)")")
        }
        let ordered = kept.sorted { $0.plan.created < $1.plan.created }
        var merged = ordered.last!.plan
        merged.entries = ordered.reduce(into: [:]) { all, p in all.merge(p.plan.entries) { _, newer in newer } }
        return (merged, dropped)
    }
}
