import DWBench
import ArgumentParser
import DWKernels
import DWTune
import Foundation

@main
struct DWBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dwbench",
        abstract: "Benchmark and run depthwise convolution algorithms on this CPU.",
        discussion: """
        Problems are written n{N}c{C}h{H}w{W}k{K}s{S}p{P}[d{D}] (depthwise, e.g. n1c128h56w56k31s1p15; each of \
        k, s, p, d may be {H}x{W}, as in n1c124h56w56k51x5s1p25x2, and d is dilation, as in n1c64h56w56k7s1p9d3) or \
        n{N}c{C}h{H}w{W}o{O} (pointwise 1×1, e.g. n1c512h14w14o2048). \
        Start with: dwbench --sizes 3,13,31; a whole network: dwbench replknet
        """,
        version: BuildSignature.current(registryNames: Registry.names).versionLine,
        subcommands: [Bench.self, Conv.self, Replknet.self, CheckpointCommand.self, Tune.self, PlanCommand.self, Check.self, Algorithms.self, Machine.self, Report.self],
        defaultSubcommand: Bench.self)

    /// ArgumentParser's `main`, with every error printed through the one error mapper: a Foundation error
    /// that escaped a command becomes its one line (`CLIError(_:)`), and no message quotes a user-given
    /// string at full length (`shortenedForDisplay`).
    static func main() {
        // Every value of the run is released before `exit`, so the sanitizers' leak check at exit sees none.
        if let code = runReportingErrors() { Foundation.exit(code) }
    }

    /// Runs the command; on an error prints its one line and returns the exit status (nil: success, or --help and
    /// --version, which `exit(withError:)` prints and ends as ArgumentParser does).
    private static func runReportingErrors() -> Int32? {
        do {
            var command = try parseAsRoot()
            try command.run()
            return nil
        } catch {
            let mapped: any Error = error is CocoaError || error is POSIXError ? CLIError(error) : error
            let code = exitCode(for: mapped)
            if code == .success { exit(withError: mapped) }  // --help, --version: printed to stdout as usual
            let text = fullMessage(for: mapped)
            if !text.isEmpty {
                FileHandle.standardError.write(Data((shortenedForDisplay(text, arguments: CommandLine.arguments) + "\n").utf8))
            }
            return code.rawValue
        }
    }
}
