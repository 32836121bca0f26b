import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The memory this process may use, and the check every large allocation path makes first, so that a
/// request beyond the machine is refused with one line instead of being killed by the OOM killer
/// half-way (or, worse, swapping for minutes).
///
/// The limit is the smallest of physical memory (`sysconf`), the cgroup limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`) and `DWBENCH_MEMORY_LIMIT` (bytes, with an optional K/M/G/T suffix; set it to
/// leave room for other work, or in tests).
public enum MemoryBudget {
    /// Bytes this process may use; read once.
    public static let limitBytes: Double = {
        var limit = Double(sysconf(Int32(_SC_PHYS_PAGES))) * Double(sysconf(Int32(_SC_PAGESIZE)))
        for path in ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"] {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let value = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)), value > 0 {
                limit = min(limit, value)
            }
        }
        if let text = ProcessInfo.processInfo.environment["DWBENCH_MEMORY_LIMIT"], let value = parseBytes(text) {
            limit = min(limit, value)
        }
        return limit
    }()

    /// `"512M"`, `"2G"`, `"1073741824"` → bytes; nil when not a positive size.
    public static func parseBytes(_ text: String) -> Double? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var digits = Substring(t), scale = 1.0
        if let last = t.last, let unit = units[last] { digits = t.dropLast(); scale = unit }
        guard let value = Double(digits), value > 0, value.isFinite else { return nil }
        return value * scale
    }

    /// Throws unless `bytes` fit the limit. `what` names the request in the message.
    public static func require(_ bytes: Double, for what: String) throws {
        guard bytes <= limitBytes else {
            throw MemoryBudgetError(description: "\(what) needs \(gibibytes(bytes)) GiB of memory, more than the \(gibibytes(limitBytes)) GiB this process may use")
        }
    }

    static func gibibytes(_ bytes: Double) -> String { String(format: bytes < 0x1p30 ? "%.2f" : "%.1f", bytes / 0x1p30) }
}

/// A request refused by `MemoryBudget`, before anything was allocated.
public struct MemoryBudgetError: Error, CustomStringConvertible {
    public let description: String
}

extension ConvProblem {
    /// Memory a benchmark trial of this problem needs, in bytes: its input, output and weights in fp32,
    /// twice (the seeded NCHW copy plus one converted layout; the output plus its NCHW copy for checking;
    /// raw plus packed weights). Algorithm workspace is capped separately by each algorithm.
    public var trialBytes: Double { 2 * bytes }

    /// Throws `MemoryBudgetError` when a trial of this problem cannot fit in memory.
    public func requireMemory() throws {
        try MemoryBudget.require(trialBytes, for: "problem \(self)")
    }
}
