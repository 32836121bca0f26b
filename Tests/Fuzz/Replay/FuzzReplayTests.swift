import DWFuzzBodies
import Foundation
import XCTest

/// Replays, through the same bodies libFuzzer runs, the committed seed corpus and every input that once
/// crashed a parser (`Tests/Fuzz/regressions/<target>/`, each named after the bug it found). A regression
/// that comes back stops this test process like it stopped the fuzzer; the failing file is printed first.
final class FuzzReplayTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    func inputs(_ folder: String, _ target: FuzzTarget) throws -> [URL] {
        let dir = Self.root.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        guard FileManager.default.fileExists(atPath: dir.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") && $0.lastPathComponent != "README.md" }
            .sorted { $0.path < $1.path }
    }

    func replay(_ folder: String) throws -> Int {
        var count = 0
        for target in FuzzTarget.allCases {
            for file in try inputs(folder, target) {
                // Printed before running, so that a crash names its input.
                print("replay \(target.rawValue): \(folder)/\(target.rawValue)/\(file.lastPathComponent)")
                target.run(try Data(contentsOf: file))
                count += 1
            }
        }
        return count
    }

    func testSeedCorpusReplays() throws {
        for target in FuzzTarget.allCases {
            XCTAssertGreaterThanOrEqual(try inputs("corpus", target).count, 3, "seed corpus of \(target.rawValue) is missing")
        }
        XCTAssertGreaterThan(try replay("corpus"), 0)
    }

    /// The output writer's seeds start the fuzzer from every kind of destination (device, FIFO, links, …).
    func testOutputSeedsCoverEveryScenario() throws {
        let seeds = try inputs("corpus", .output).map { outputScenario(of: try Data(contentsOf: $0)) }
        XCTAssertEqual(Set(seeds.compactMap { $0 }), Set(outputScenarios))
    }

    func testCrashRegressionsReplay() throws {
        // The inputs that broke the plan readers and consumers and the safetensors reader (Results/fuzzing.md) are all still here.
        XCTAssertGreaterThanOrEqual(try replay("regressions"), 3)
    }

    func testExecutableNamesPickTheirTarget() {
        for target in FuzzTarget.allCases {
            XCTAssertEqual(FuzzTarget.forExecutable("/tmp/x/fuzz-\(target.rawValue)"), target)
        }
        XCTAssertNil(FuzzTarget.forExecutable("/tmp/fuzz-entry"))
        XCTAssertNil(FuzzTarget.forExecutable("/tmp/npy"))
    }
}
