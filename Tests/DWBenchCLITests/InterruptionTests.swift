import DWBench
import DWCore
import DWKernels
import DWTune
import Foundation
import XCTest

/// Killing `dwbench tune` or `dwbench check --update` at any moment leaves the file it would write either
/// untouched or complete: never missing, never partial. Each test first runs the command to completion to
/// learn its duration T, then kills repeated runs at seeded random moments in [0, 1.2·T] — half spread
/// over the whole run, half in the last 15% of it, around the write — with SIGKILL (two thirds of the
/// kills), SIGTERM or SIGINT. After each kill the file must be the previous bytes or a new file that
/// reads and validates in full; a replaced file becomes the next "previous".
final class InterruptionTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    struct Outcomes { var kept = 0, replaced = 0, killedEarly = 0 }

    func killAtRandomMoments(_ arguments: [String], file path: String, runs: Int, seed: UInt64,
                             valid: (String) -> Bool) throws -> Outcomes {
        let first = monotonicSeconds()
        let completed = try CLI.run(arguments)
        let duration = monotonicSeconds() - first
        XCTAssertEqual(completed.status, 0, completed.stderr)
        XCTAssertTrue(valid(path), "the uninterrupted run wrote an invalid file")
        var previous = try Data(contentsOf: URL(fileURLWithPath: path))
        var rng = SeededGenerator(seed: seed)
        var outcomes = Outcomes()
        for run in 0..<runs {
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let delay = run % 2 == 0 ? u * 1.2 * duration : (0.85 + 0.35 * u) * duration
            let signal: Int32 = [SIGKILL, SIGKILL, SIGTERM, SIGKILL, SIGKILL, SIGINT][run % 6]
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(delay * 1e6))
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal { outcomes.killedEarly += 1 }
            let label = "run \(run): \(signalName(signal)) after \(String(format: "%.3f", delay)) s of \(String(format: "%.3f", duration)) s"
            guard let now = FileManager.default.contents(atPath: path) else { XCTFail("\(label): the file is gone"); continue }
            if now == previous {
                outcomes.kept += 1
            } else {
                XCTAssertTrue(valid(path), "\(label): the file changed and is not a complete valid file (\(now.count) bytes)")
                outcomes.replaced += 1
                previous = now
            }
        }
        // Only the destination and, at worst, temporaries of writes cut off mid-way: never another name.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let name = URL(fileURLWithPath: path).lastPathComponent
        for other in names where other != name {
            XCTAssertTrue(other.hasPrefix(".\(name).tmp-"), "unexpected file \(other)")
        }
        return outcomes
    }

    func signalName(_ signal: Int32) -> String { signal == SIGKILL ? "SIGKILL" : signal == SIGTERM ? "SIGTERM" : "SIGINT" }

    func testKilledTuneLeavesThePreviousPlanOrACompleteOne() throws {
        let plan = dir.appendingPathComponent("plan.json").path
        let outcomes = try killAtRandomMoments(["tune", "--shapes", "n1c32h16w16k5s1p2", "--threads", "1", "--output", plan],
                                               file: plan, runs: 10, seed: 81) { path in
            (try? Plan.load(path: path, registry: Registry.names))?.entries.keys.sorted() == ["n1c32h16w16k5s1p2"]
        }
        print("interruption outcomes: \(outcomes)")
        XCTAssertGreaterThan(outcomes.killedEarly, 0, "no run was interrupted: \(outcomes)")
    }

    func testKilledCheckUpdateLeavesThePreviousBaselineOrACompleteOne() throws {
        let baseline = dir.appendingPathComponent("baseline.json").path
        let outcomes = try killAtRandomMoments(["check", "--update", "--problems", "n1c32h16w16k3s1p1", "--rounds", "5", "--baseline", baseline],
                                               file: baseline, runs: 10, seed: 82) { path in
            (try? GateBaseline.load(path: path))?.entries.map(\.problem) == ["n1c32h16w16k3s1p1"]
        }
        print("interruption outcomes: \(outcomes)")
        XCTAssertGreaterThan(outcomes.killedEarly, 0, "no run was interrupted: \(outcomes)")
    }
}
