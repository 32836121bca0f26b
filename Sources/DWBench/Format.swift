import DWCore
import Foundation

/// What `dwbench machine --format json` prints and `dwbench report` writes as machine.json.
public struct MachineReport: Codable {
    public var fingerprint: MachineFingerprint
    public var speed: MachineSpeed
    public var threads: Int
    /// The notes of `speed.peaks(threads:)`: a peak whose measurement looks disturbed, and the figure used
    /// for it (absent when there is none).
    public var peakNotes: [String]?
    public init(fingerprint: MachineFingerprint, speed: MachineSpeed, threads: Int) {
        self.fingerprint = fingerprint
        self.speed = speed
        self.threads = threads
        let notes = speed.peaks(threads: threads).notes
        peakNotes = notes.isEmpty ? nil : notes
    }
}

/// The machine as a few aligned lines: CPU, ISA, cores, caches, measured peak and bandwidth, and (`notes`) a
/// warning line per peak whose measurement looks disturbed (`PeakChoice`).
public func describeMachine(_ fp: MachineFingerprint, _ speed: MachineSpeed, threads: Int, notes: Bool = true) -> String {
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
    """ + (notes ? speed.peaks(threads: threads).notes : []).map { "\nwarning        \($0)" }.joined()
}

extension Peaks {
    /// The notes as footnote lines under a text table.
    var footnotes: [String] { notes.map { "! \($0)" } }
    /// The notes as Markdown warnings.
    var markdownWarnings: [String] { DWBench.markdownWarnings(notes) }
}

/// Peak notes as Markdown warnings, one paragraph each.
func markdownWarnings(_ notes: [String]) -> [String] { notes.map { "> **Warning:** \($0).\n" } }

/// Each peak note as a "warning: " line on stderr, where a reader of the figures sees it whatever the format.
public func warnAboutPeaks(_ peaks: Peaks) {
    for note in peaks.notes { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
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
