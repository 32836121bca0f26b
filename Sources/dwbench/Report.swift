import ArgumentParser
import DWBench
import DWCore
import DWKernels
import Foundation

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the shape sets and write Results/: JSON, Markdown tables and SVG plots.",
        discussion: """
        Runs every registered algorithm on each shape set at each thread count (the same timing as 'bench'), \
        writes bench-<set>-<T>t.json and machine.json, and renders README.md with the comparison against \
        the peer engines whose JSON (from Benchmarks/peers/run_peers.py) is passed with --peers.
        """)

    @Option(help: "Directory to write (created if missing).") var output: String = "Results"
    @Option(help: "Thread counts, comma separated.") var threads: String = "1,2"
    @Option(name: .customLong("sets"), help: "Shape sets: files or 'replknet31b', comma separated.")
    var sets: String = "Benchmarks/shapes/headline.txt,Benchmarks/shapes/sweep.txt,replknet31b,replknet31b-pointwise"
    @Option(name: .customLong("peers"), help: "Peer JSON files from run_peers.py (repeatable).") var peerFiles: [String] = []
    @Option(help: "Minimum seconds per repetition.") var minTime: Double = 0.05
    @Option(help: "Timed repetitions per case.") var repetitions: Int = 5
    @Option(help: "Cap for one run, seconds (slower cases are timed once).") var capSeconds: Double = 1.0
    @Flag(help: "Time even in a debug build.") var allowDebug = false

    func run() throws {
        try refuseDebugBuild(allowDebug)
        let threadCounts = try threads.split(separator: ",").map { t -> Int in
            guard let v = Int(t), (1...ThreadPool.maxThreads).contains(v) else { throw CLIError("--threads: '\(t)' is not a thread count") }
            return v
        }
        try cli { try AtomicFile.createDirectory(output) }
        let shapeSets = try sets.split(separator: ",").map { spec -> (String, ShapeFile) in
            let name = URL(fileURLWithPath: String(spec)).deletingPathExtension().lastPathComponent
            return try cli { (name, try ShapeFile.resolve(String(spec))) }
        }
        var peers: [BenchRecord] = []
        for file in peerFiles {
            do { peers += try JSONDecoder().decode([BenchRecord].self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw CLIError("\(file): not a peer JSON file (\(FileError.reason(of: error)))")
            }
        }

        let run = ResultsRun(outputDirectory: output, threadCounts: threadCounts, shapeSets: shapeSets, peers: peers,
                             policy: TimingPolicy(warmup: 1, minRepetitionSeconds: minTime, repetitions: repetitions, capSeconds: capSeconds),
                             command: CommandLine.arguments.joined(separator: " "))
        try cli { try run.run { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } }
        print("wrote \(output)/README.md")
    }
}
