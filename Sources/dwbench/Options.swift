import DWBench
import ArgumentParser
import DWCore
import DWKernels

/// Output format of `bench`, whose records are rows: a table, JSON or CSV with the same columns.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Output format of the commands that print one report (replknet, checkpoint, machine): no CSV.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}

/// `--threads`, shared by every subcommand that computes.
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "Worker threads (this machine has \(ThreadPool.defaultThreads) cores).")
    var threads: Int = ThreadPool.defaultThreads

    func validate() throws {
        guard (1...ThreadPool.maxThreads).contains(threads) else { throw ValidationError("--threads must be between 1 and \(ThreadPool.maxThreads), got \(threads)") }
    }
}

/// The error every subcommand throws for bad input: ArgumentParser prints it as one line
/// ("Error: …") and exits with status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension Problem: ExpressibleByArgument {
    public init?(argument: String) {
        guard let p = try? Problem(parsing: argument) else { return nil }
        self = p
    }
}

/// Runs library code and turns what it throws into the CLI's one-line error (exit status 1): the one place
/// errors are mapped.
@discardableResult
func cli<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as CLIError { throw error } catch { throw CLIError("\(error)") }
}

/// Parses a problem, turning the parser's message into a CLI error.
func parseProblem(_ text: String) throws -> Problem {
    return try cli { try Problem(parsing: text) }
}

func parseConvProblem(_ text: String) throws -> ConvProblem {
    return try cli { try ConvProblem(parsing: text) }
}

/// Refuses, before anything is allocated, the first problem whose trial does not fit in memory.
func requireMemory(_ problems: [ConvProblem]) throws {
    for problem in problems {
        try cli { try problem.requireMemory() }
    }
}
