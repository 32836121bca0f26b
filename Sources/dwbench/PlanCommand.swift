import DWBench
import ArgumentParser
import DWCore
import DWKernels
import DWTune
import Foundation

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Inspect, explain, merge and check tuning plans.",
        subcommands: [Show.self, Explain.self, Merge.self, Check.self, Verify.self])

    static func load(_ path: String) throws -> Plan {
        return try cli { try Plan.load(path: path, registry: Registry.names) }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a plan as a table.")
        @Argument(help: "The plan file.") var file: String

        func run() throws {
            print(PlanText.show(try PlanCommand.load(file), file: file))
        }
    }

    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Why the plan chose what it chose for one problem.")
        @Argument(help: "The plan file.") var file: String
        @Argument(help: "A problem such as n1c128h56w56k31s1p15 or n1c512h14w14o2048.") var descriptor: String

        func run() throws {
            let plan = try PlanCommand.load(file)
            let problem = try parseConvProblem(descriptor)
            guard let e = plan.entries["\(problem)"] else {
                let heuristic = (try? Planner.heuristic.choose(problem).algorithm.name) ?? "?"
                throw CLIError("\(problem) is not in \(file) (dwbench would use the heuristic: \(heuristic))")
            }
            print(PlanText.explain(e, problem: problem))
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge plans into one (the newer entry wins for a problem both have).",
            discussion: """
            Plans tuned on this machine and build are combined; a plan from elsewhere is dropped, which is an \
            error (exit 1, nothing written) unless --allow-drop is given. With no plan from here, all must \
            come from one machine and build.
            """)
        @Argument(help: "Two or more plan files.") var files: [String]
        @Option(name: [.short, .long], help: "Where to write the merged plan (atomically).") var output: String
        @Flag(help: "Drop the entries of plans from another machine, build or thread count instead of failing.") var allowDrop = false

        func validate() throws {
            if files.count < 2 { throw CLIError("merge takes two or more plan files") }
        }

        func run() throws {
            let plans = try files.map { (name: $0, plan: try PlanCommand.load($0)) }
            let result: (plan: Plan, dropped: [String])
            result = try cli { try Plan.merge(plans, machine: MachineFingerprint.current(), build: BuildSignature.current(registryNames: Registry.names)) }
            if !result.dropped.isEmpty && !allowDrop {
                throw CLIError("merge would drop entries (\(result.dropped.joined(separator: "; "))); pass --allow-drop to write the rest")
            }
            for line in result.dropped { FileHandle.standardError.write(Data("merge: \(line)\n".utf8)) }
            try cli { try result.plan.write(path: output) }
            print("wrote \(output): \(result.plan.entries.count) problems from \(files.count - result.dropped.count) of \(files.count) plans")
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a plan against the schema and this machine and build.",
            discussion: "Exit status: 0 usable here, 1 invalid, 2 valid but tuned elsewhere (another machine, build or thread count).")
        @Argument(help: "The plan file.") var file: String
        @OptionGroup var threadOptions: ThreadOptions

        func run() throws {
            let plan = try PlanCommand.load(file)
            if let why = plan.mismatch(machine: MachineFingerprint.current(), build: BuildSignature.current(registryNames: Registry.names),
                                       threads: threadOptions.threads) {
                FileHandle.standardError.write(Data("\(file): valid plan, but \(why)\n".utf8))
                throw ExitCode(2)
            }
            print("\(file): valid, \(plan.entries.count) problems, usable on this machine and build at \(plan.threads) thread\(plan.threads == 1 ? "" : "s")")
        }
    }
}
