import DWBench
import ArgumentParser
import DWCore
import Foundation

struct Machine: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print this machine's fingerprint and measured FMA peak and bandwidth.",
        discussion: """
        The measured peak calibrates '% of peak' in 'dwbench bench'. Takes about a second. A multi-thread peak \
        below the one-thread peak or more than 10% above threads × it is implausible, and threads × the \
        one-thread peak is used instead; that, repetitions varying by more than 10%, or measuring threads on \
        a CPU less than 90% of the time (a busy machine) print a warning on stderr ('peakNotes' in JSON) \
        naming the figure '% of peak' uses.
        """)

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
            print(describeMachine(fp, speed, threads: threadOptions.threads, notes: false))
        }
        warnAboutPeaks(speed.peaks(threads: threadOptions.threads))
    }
}

func refuseDebugBuild(_ allowed: Bool) throws {
    if isDebugBuild && !allowed {
        throw CLIError("this is a debug build; timings would be 20–100× too slow. Build with 'swift build -c release' (or pass --allow-debug)")
    }
}
