import ArgumentParser
import DWBench
import DWCore
import DWKernels
import DWTune
import Foundation

extension PlanCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check plans' choices against a fresh exhaustive re-measurement.",
            discussion: """
            Re-times every candidate of every problem in the first plan (interleaved, longer repetitions than \
            tuning) and reports, per plan, how often its choice is within --tolerance of the best re-measured \
            time. Plans must share the thread count. Writes a Markdown report (stdout or --output).
            """)
        @Argument(help: "Plans to verify (e.g. a measured and an estimated plan of the same problems).") var plans: [String]
        @Option(help: "A choice within this fraction of the best counts as right.") var tolerance: Double = 0.05
        @Option(help: "Write the Markdown report here (atomically).") var output: String?
        @Option(help: "Tuning seconds to quote per plan, comma separated, in order (from the tune runs).") var tuningSeconds: String?
        @Flag(help: "Run even in a debug build.") var allowDebug = false

        func run() throws {
            try refuseDebugBuild(allowDebug)
            guard !plans.isEmpty else { throw CLIError("give at least one plan") }
            let loaded = try plans.map(PlanCommand.load)
            let threads = loaded[0].threads
            guard loaded.allSatisfy({ $0.threads == threads }) else { throw CLIError("the plans were tuned for different thread counts") }
            let seconds = tuningSeconds?.split(separator: ",").map { Double($0) }
            let text: String
            do {
                text = try PlanVerification.report(plans: zip(plans.map { URL(fileURLWithPath: $0).lastPathComponent }, loaded).map { ($0, $1) },
                                                   tolerance: tolerance, tuningSeconds: seconds,
                                                   command: "dwbench \(CommandLine.arguments.dropFirst().joined(separator: " "))") {
                    FileHandle.standardError.write(Data(($0 + "\n").utf8))
                }
            } catch { throw CLIError(error) }
            if let output {
                try cli { try AtomicFile.write(Data(text.utf8), to: output) }
            } else {
                print(text, terminator: "")
            }
        }
    }
}
