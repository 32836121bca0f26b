import DWCore
import DWTestSupport
import Foundation
import XCTest

/// Runs the built `dwbench` binary (the one next to the test bundle) and captures its output.
struct CLIResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum CLI {
    static var binary: URL {
        let dir = Bundle.main.bundleURL.hasDirectoryPath ? Bundle.main.bundleURL : Bundle.main.bundleURL.deletingLastPathComponent()
        let candidate = dir.appendingPathComponent("dwbench")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("dwbench")
    }

    /// Whether this test process (and so the `dwbench` built with it) runs under ASan or TSan.
    static let sanitized: Bool = {
        let program = dlopen(nil, RTLD_NOW)   // the process's global symbols
        return dlsym(program, "__asan_init") != nil || dlsym(program, "__tsan_init") != nil
    }()

    /// Runs `dwbench arguments`; `environment` entries are added to this process's environment.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIResult {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        return try capture(process)
    }

    /// Validates the JSON file `path` against the published schema of `kind` (plan, bench, baseline,
    /// model-report) with `Benchmarks/validate_json.py` (python3 jsonschema); status 0 when valid.
    static func validateJSON(_ kind: String, _ path: String) throws -> CLIResult {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", root.appendingPathComponent("Benchmarks/validate_json.py").path, kind, path]
        return try capture(process)
    }

    /// Runs a `/bin/sh -c` command line (for `ulimit`), capturing its output like `run`.
    static func runShell(_ command: String, environment: [String: String] = [:]) throws -> CLIResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        return try capture(process)
    }

    private static func capture(_ process: Process) throws -> CLIResult {
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read before waiting, and both pipes at once (stderr on another thread), so that a large output on
        // either cannot fill its pipe and block the child while this process waits on the other.
        let stderrReader = ReadAll(dup(err.fileHandleForReading.fileDescriptor))
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = stderrReader.wait()
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus,
                         stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

/// A fresh temporary directory, removed by the caller's `defer`.
func makeTemporaryDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwbench-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
}

/// The committed PyTorch fixtures (see Fixtures/make_fixtures.py).
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
