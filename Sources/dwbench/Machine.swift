import ArgumentParser
import DWCore
import Foundation

struct Machine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this machine's fingerprint and measured FMA peak and bandwidth.",
        discussion: "The measured peak calibrates '% of peak' in 'dwbench bench'. Takes about a second.")

    @OptionGroup var threadOptions: ThreadOptions

    @Option(help: "Output format.")
    var format: ReportFormat = .table

    @Flag(help: "Time even in a debug build (the figures will be meaningless).")
    var allowDebug = false

    func run() throws {
        try refuseDebugBuild(allowDebug)
        let fp = MachineFingerprint.current()
        let speed = MachineSpeed.measure(threads: threadOptions.threads)
        switch format {
        case .json:
            let report = MachineReport(fingerprint: fp, speed: speed, threads: threadOptions.threads)
            print(try jsonString(report))
        case .table:
            print(describeMachine(fp, speed, threads: threadOptions.threads))
        }
    }
}

struct MachineReport: Codable {
    var fingerprint: MachineFingerprint
    var speed: MachineSpeed
    var threads: Int
}

func describeMachine(_ fp: MachineFingerprint, _ speed: MachineSpeed, threads: Int) -> String {
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
    bandwidth      \(fmt(speed.bandwidthGBsOneCore, 1)) GB/s one core, \(fmt(speed.bandwidthGBsAllCores, 1)) GB/s on \(threads) threads (triad)
    """
}

func refuseDebugBuild(_ allowed: Bool) throws {
    if isDebugBuild && !allowed {
        throw CLIError("this is a debug build; timings would be 20–100× too slow. Build with 'swift build -c release' (or pass --allow-debug)")
    }
}

func jsonString<T: Encodable>(_ value: T) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

func fmt(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
