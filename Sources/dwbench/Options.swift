import DWBench
import ArgumentParser
import DWCore
import DWKernels
import Foundation

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
    /// Any error as one line: a Foundation file error as "path: reason" (`FileError.line`), never its
    /// NSError dump.
    init(_ error: any Error) { description = (error as? CLIError)?.description ?? FileError.line(for: error) }
    /// The same, after `context` ("--epilogue", "input", a file's name): "context: line".
    init(_ error: any Error, context: String) { self.init("\(context): \(CLIError(error).description)") }
}

/// The error text as printed: a user-given string can be of any length (a 100,000-character algorithm
/// name, a file's contents), the message quoting it must not be. A command-line argument or any word
/// longer than `longest` characters is cut to its first `kept` and "… (N characters)"; so is the whole
/// text beyond 4,000 characters (a long name with spaces in it, from a file).
func shortenedForDisplay(_ text: String, arguments: [String], longest: Int = 120, kept: Int = 60) -> String {
    func clip(_ s: some StringProtocol, to count: Int = kept) -> String { "\(s.prefix(count))… (\(s.count) characters)" }
    var text = text
    for argument in Set(arguments) where argument.count > longest {
        text = text.replacingOccurrences(of: argument, with: clip(argument))
    }
    text = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
        line.split(separator: " ", omittingEmptySubsequences: false).map { $0.count > longest ? clip($0) : String($0) }.joined(separator: " ")
    }.joined(separator: "\n")
    return text.count > 4000 ? clip(text, to: 4000) : text
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
    do { return try body() } catch { throw CLIError(error) }
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
