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
        do { return try Plan.load(path: path, registry: Registry.names) } catch { throw CLIError("\(error)") }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a plan as a table.")
        @Argument(help: "The plan file.") var file: String

        func run() throws {
            let plan = try PlanCommand.load(file)
            print("\(file): \(plan.entries.count) problems, \(plan.threads) thread\(plan.threads == 1 ? "" : "s"), \(plan.generator), \(plan.created)")
            print("machine: \(plan.machine.cpuModel), \(plan.machine.cores) cores; build: registry \(plan.build.registry_hash), \(plan.build.compiler)")
            var rows = [["problem", "algorithm", "mode", "median ms", "runner-up", "margin", "confident"]]
            for key in plan.entries.keys.sorted() {
                let e = plan.entries[key]!
                let ranked = e.candidates.filter { $0.median_ms != nil }
                rows.append([key, e.algorithm, e.mode, ranked.first?.median_ms.map { fmt($0, 3) } ?? "—",
                             ranked.count > 1 ? ranked[1].algorithm : "—", "\(fmt(e.margin * 100, 1))%", e.confident ? "yes" : "no"])
            }
            print(formatColumns(rows, rightAligned: [3, 5]))
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
                let heuristic = (try? PlanChooser(plan: nil, warning: nil, planOnly: false).chooseName(problem).name) ?? "?"
                throw CLIError("\(problem) is not in \(file) (dwbench would use the heuristic: \(heuristic))")
            }
            print("\(problem): \(e.algorithm), chosen by \(e.mode) on \(e.threads) thread\(e.threads == 1 ? "" : "s"), margin \(fmt(e.margin * 100, 1))% over the runner-up\(e.mode == "estimate" ? " (predicted, not measured)" : e.confident ? "" : " (within noise: not confident)")")
            let best = e.candidates.compactMap(\.median_ms).min() ?? 0
            var rows = [["candidate", "status", "median ms", "spread", "vs chosen", "note"]]
            for c in e.candidates {
                rows.append([c.algorithm, c.status, c.median_ms.map { fmt($0, 3) } ?? "—", c.spread.map { "\(fmt($0 * 100, 1))%" } ?? "—",
                             c.median_ms.map { "\(fmt($0 / best, 2))×" } ?? "—", c.reason ?? ""])
            }
            print(formatColumns(rows, rightAligned: [2, 3, 4]))
        }
    }

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge two plans (several shape sets or hosts) into one.",
            discussion: """
            Plans from the same machine, build and thread count are united; where both have a problem, the
            newer entry wins. Plans from different machines are resolved by fingerprint: the one tuned on
            this machine wins and the other's entries are dropped (reported); if neither is from this
            machine, merging is refused.
            """)
        @Argument(help: "First plan.") var a: String
        @Argument(help: "Second plan.") var b: String
        @Option(name: .shortAndLong, help: "Output plan.") var output: String

        func run() throws {
            let (pa, pb) = (try PlanCommand.load(a), try PlanCommand.load(b))
            let here = MachineFingerprint.current()
            var merged: Plan
            if pa.machine == pb.machine && pa.build == pb.build && pa.threads == pb.threads {
                let (older, newer) = pa.created <= pb.created ? (pa, pb) : (pb, pa)
                merged = newer
                merged.entries = older.entries.merging(newer.entries) { _, new in new }
            } else if pa.machine == here || pb.machine == here {
                let (keep, drop, dropName) = pa.machine == here ? (pa, pb, b) : (pb, pa, a)
                merged = keep
                FileHandle.standardError.write(Data("merge: \(dropName) is from another machine, build or thread count; dropped its \(drop.entries.count) entries\n".utf8))
            } else {
                throw CLIError("\(a) and \(b) were tuned on different machines or builds, neither this one; merge them on one of those machines")
            }
            do { try merged.write(path: output) } catch { throw CLIError("\(error)") }
            print("wrote \(output): \(merged.entries.count) problems")
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
