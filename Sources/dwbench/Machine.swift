import DWBench
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

func refuseDebugBuild(_ allowed: Bool) throws {
    if isDebugBuild && !allowed {
        throw CLIError("this is a debug build; timings would be 20–100× too slow. Build with 'swift build -c release' (or pass --allow-debug)")
    }
}
