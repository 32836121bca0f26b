import DWCore
import Foundation

/// What `dwbench machine --format json` prints and `dwbench report` writes as machine.json.
public struct MachineReport: Codable {
    public var fingerprint: MachineFingerprint
    public var speed: MachineSpeed
    public var threads: Int
    public init(fingerprint: MachineFingerprint, speed: MachineSpeed, threads: Int) {
        self.fingerprint = fingerprint
        self.speed = speed
        self.threads = threads
    }
}

/// The machine as a few aligned lines: CPU, ISA, cores, caches, measured peak and bandwidth.
public func describeMachine(_ fp: MachineFingerprint, _ speed: MachineSpeed, threads: Int) -> String {
    let caches = fp.caches.map { c in
        "\(c.label) \(MachineFingerprint.sizeText(c.bytes))" + (c.sharedBy > 1 ? " (shared by \(c.sharedBy))" : "")
    }.joined(separator: ", ")
    return """
    CPU            \(fp.cpuModel)\(fp.family.map { f in " (\(fp.vendor ?? "?") family \(f), model \(fp.model.map(String.init) ?? "?"), stepping \(fp.stepping.map(String.init) ?? "?"))" } ?? "")
    ISA            \(fp.features.joined(separator: " "))
    cores          \(fp.cores)
    NUMA nodes     \(fp.numaNodes)
    caches         \(caches)
    FMA peak       \(fmt(speed.peakGflopsOneCore, 1)) GFLOP/s one core, \(fmt(speed.peakGflopsAllCores, 1)) GFLOP/s on \(threads) threads (fp32, SIMD16 FMA)
    bf16 peak      \(speed.bf16PeakGflopsOneCore.map { "\(fmt($0, 1)) GFLOP/s one core, \(fmt(speed.bf16PeakGflopsAllCores ?? 0, 1)) GFLOP/s on \(threads) threads (vdpbf16ps zmm, fp32 accumulation)" } ?? "none: the CPU has no avx512_bf16")
    bandwidth      \(fmt(speed.bandwidthGBsOneCore, 1)) GB/s one core, \(fmt(speed.bandwidthGBsAllCores, 1)) GB/s on \(threads) threads (triad)
    """
}

/// Pretty-printed JSON with sorted keys (stable diffs of committed files).
public func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

public func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }

/// "1 thread", "2 threads".
public func threadsText(_ t: Int) -> String { "\(t) thread\(t == 1 ? "" : "s")" }
