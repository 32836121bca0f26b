import DWBench
import DWCore
import DWModel
import DWTune
import Foundation
import XCTest

/// The model report divides by the peaks too (its roofline prediction): a disturbed measurement (injected)
/// is said under its table, on its page and in its JSON, and nothing is said on a quiet machine.
final class PeakNotesTests: XCTestCase {
    func report(_ peak: Peaks) throws -> ModelReport {
        let config = RepLKNetConfig(kernels: [5, 3, 3, 3], blocks: [1, 1, 1, 1], channels: [8, 16, 16, 16], smallKernel: 3,
                                    dwRatio: 1, ffnRatio: 2, inChannels: 3, classes: 5)
        let model = try RepLKNetModel(try DeployedRepLKNet(Checkpoint.random(config, seed: 4)), batch: 1, resolution: 32,
                                      executor: InlineExecutor(), planner: .heuristic)
        var rng = SeededGenerator(seed: 5)
        let timing = ModelTiming.run(model, image: rng.signedArray(3 * 32 * 32), repetitions: 1)
        return ModelReport(model: model, source: "random", timing: timing, peak: peak, bandwidth: 20, setupSeconds: 0)
    }

    func testTheModelReportCarriesThePeakNotes() throws {
        let note = "fp32 FMA peak at 2 threads: 2 threads measured 95.0 GFLOP/s, below 1 thread's 117.0 GFLOP/s (a busy machine); using 2 × the 1-thread figure, 234.0 GFLOP/s"
        let busy = try report(Peaks(fp32: 234, notes: [note]))
        XCTAssertEqual(busy.json().peak_notes, [note])
        XCTAssertTrue(busy.table().contains("\n! \(note)"), busy.table())
        XCTAssertTrue(busy.markdown(peers: [], command: "test", svgName: "x.svg").contains("> **Warning:** \(note).\n"))
        let quiet = try report(Peaks(fp32: 234))
        XCTAssertNil(quiet.json().peak_notes)
        XCTAssertFalse(quiet.table().contains("\n! "))
        XCTAssertFalse(quiet.markdown(peers: [], command: "test", svgName: "x.svg").contains("Warning"))
        XCTAssertFalse(try jsonString(quiet.json()).contains("peak_notes"))
    }
}
