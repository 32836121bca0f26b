import DWCore
import Foundation
import XCTest

/// The choice of the peak "% of peak" divides by, on injected measurements (no timing: the decision is a pure
/// function of the samples). Figures are this machine's quiet ones: 117 GFLOP/s on one core, 234 on two.
final class PeakChoiceTests: XCTestCase {
    let one = PeakSample(gflops: 117, spread: 0.01)

    func choose(_ many: PeakSample?, threads: Int = 2, one: PeakSample? = nil) -> PeakChoice {
        PeakChoice.choose(.fp32, threads: threads, one: one ?? self.one, many: many)
    }

    func assertUsedAsIs(_ c: PeakChoice, _ gflops: Double, line: UInt = #line) {
        XCTAssertEqual(c.gflops, gflops, line: line)
        XCTAssertNil(c.note, line: line)
    }

    func testSpreadIsTheMedianRepetitionsShortfallFromTheBest() {
        let quiet = PeakSample(repetitions: [230, 234, 233, 60, 232])   // one disturbed repetition
        XCTAssertEqual(quiet.gflops, 234)
        XCTAssertEqual(quiet.spread, 2.0 / 234, accuracy: 1e-12)
        let busy = PeakSample(repetitions: [234, 120, 150, 200, 110, 130])
        XCTAssertEqual(busy.gflops, 234)
        XCTAssertEqual(busy.spread, (234 - 140) / 234.0, accuracy: 1e-12)
        XCTAssertEqual(PeakSample(repetitions: []).spread, 0)
        // The CPU share is the fastest repetition's.
        XCTAssertEqual(PeakSample(repetitions: [100, 120, 90], cpuShares: [0.5, 0.97, 0.4]).cpuShare, 0.97)
        XCTAssertEqual(PeakSample(repetitions: [100, 120, 90]).cpuShare, 1)
    }

    func testAPlausibleQuietMeasurementIsUsedAsIs() {
        assertUsedAsIs(choose(PeakSample(gflops: 233, spread: 0.02)), 233)
        // Up to 10% above ideal scaling is measurement noise, not a doubt.
        assertUsedAsIs(choose(PeakSample(gflops: 250, spread: 0)), 250)
        // Exactly the one-thread figure (SMT siblings sharing one FMA unit) is plausible too.
        assertUsedAsIs(choose(PeakSample(gflops: 117, spread: 0)), 117)
        assertUsedAsIs(choose(nil, threads: 1), 117)
    }

    /// `many` is implausible beside `one`: 2 × the one-thread figure is used, and the note says why and that.
    @discardableResult
    func assertFallsBack(_ many: PeakSample, because reason: String, line: UInt = #line) throws -> String {
        let c = choose(many)
        XCTAssertEqual(c.gflops, 234, line: line)
        let note = try XCTUnwrap(c.note, line: line)
        XCTAssertTrue(note.hasPrefix("fp32 FMA peak at 2 threads: ") && note.contains(reason), note, line: line)
        XCTAssertTrue(note.hasSuffix("using 2 × the 1-thread figure, 234.0 GFLOP/s"), note, line: line)
        return note
    }

    func testBelowTheOneThreadPeakFallsBackToIdealScaling() throws {
        let note = try assertFallsBack(PeakSample(gflops: 95, spread: 0.05), because: "2 threads measured 95.0 GFLOP/s, below 1 thread's 117.0 GFLOP/s")
        XCTAssertFalse(note.contains("vary"), "neither spread is above 10%: \(note)")
    }

    func testAboveIdealScalingFallsBackToIt() throws {
        try assertFallsBack(PeakSample(gflops: 543, spread: 0.02), because: "measured 543.0 GFLOP/s, above 2 × 1 thread's 117.0 GFLOP/s")
        // Four threads: the bounds scale with the thread count.
        XCTAssertEqual(choose(PeakSample(gflops: 460, spread: 0), threads: 4).note, nil)
        XCTAssertEqual(choose(PeakSample(gflops: 600, spread: 0), threads: 4).gflops, 468)
    }

    func testVaryingRepetitionsAreABusyMachineButTheBestIsKept() throws {
        let c = choose(PeakSample(gflops: 200, spread: 0.3))
        XCTAssertEqual(c.gflops, 200)
        let note = try XCTUnwrap(c.note)
        XCTAssertTrue(note.contains("the 2-thread repetitions vary by 30%"), note)
        XCTAssertTrue(note.hasSuffix("using the best 2-thread repetition, 200.0 GFLOP/s"), note)
        // The one-thread reference varying is said too, and so is both at once with an implausible figure.
        let noisyOne = PeakSample(gflops: 117, spread: 0.2)
        XCTAssertTrue(try XCTUnwrap(choose(PeakSample(gflops: 230, spread: 0), one: noisyOne).note).contains("the 1-thread repetitions vary by 20%"))
        let both = try XCTUnwrap(choose(PeakSample(gflops: 90, spread: 0.4), one: noisyOne).note)
        XCTAssertTrue(both.contains("below 1 thread's") && both.contains("1-thread repetitions vary by 20%")
                      && both.contains("2-thread repetitions vary by 40%") && both.hasSuffix("234.0 GFLOP/s"), both)
    }

    /// Other work sharing the cores evenly slows every repetition alike (a small spread) but takes CPU time.
    func testThreadsOffTheCPUAreABusyMachine() throws {
        let shared = PeakSample(gflops: 58, spread: 0.03, cpuShare: 0.5)
        let single = choose(nil, threads: 1, one: shared)
        XCTAssertEqual(single.gflops, 58)
        XCTAssertEqual(single.note, "fp32 FMA peak: the 1-thread run was on a CPU 50% of the time (a busy machine); using the best repetition, 58.0 GFLOP/s")
        let two = try XCTUnwrap(choose(PeakSample(gflops: 110, spread: 0.02, cpuShare: 0.45), one: shared).note)
        XCTAssertTrue(two.contains("the 1-thread run was on a CPU 50% of the time; the 2-thread run was on a CPU 45% of the time"), two)
        XCTAssertTrue(two.hasSuffix("using the best 2-thread repetition, 110.0 GFLOP/s"), two)
        XCTAssertNil(choose(PeakSample(gflops: 230, spread: 0, cpuShare: 0.9)).note, "90% is the threshold")
        XCTAssertTrue(try XCTUnwrap(choose(PeakSample(gflops: 230, spread: 0, cpuShare: 0.8999)).note).contains("on a CPU 89% of the time"))
    }

    func testTheBusyThresholdIsTenPercent() throws {
        XCTAssertNil(choose(PeakSample(gflops: 230, spread: 0.10)).note)
        XCTAssertTrue(try XCTUnwrap(choose(PeakSample(gflops: 230, spread: 0.1001)).note).contains("vary by 11%"), "just over 10% never reads 10%")
        XCTAssertNil(choose(nil, threads: 1, one: PeakSample(gflops: 117, spread: 0.10)).note)
        let single = choose(nil, threads: 1, one: PeakSample(gflops: 117, spread: 0.25))
        XCTAssertEqual(single.gflops, 117)
        XCTAssertEqual(single.note, "fp32 FMA peak: the 1-thread repetitions vary by 25% (a busy machine); using the best repetition, 117.0 GFLOP/s")
    }

    /// The stored measurement gives the same choice, for both arithmetics, and its peaks carry the notes.
    func testMachineSpeedChoosesFromItsStoredSamples() throws {
        let speed = MachineSpeed(fp32: (one: one, all: PeakSample(gflops: 185, spread: 0.35, cpuShare: 0.95)),
                                 bf16: (one: PeakSample(gflops: 235, spread: 0), all: PeakSample(gflops: 200, spread: 0)),
                                 bandwidthGBsOneCore: 17, bandwidthGBsAllCores: 31, allCoresThreads: 2)
        let peaks = speed.peaks(threads: 2)
        XCTAssertEqual(peaks.fp32, 185)
        XCTAssertEqual(peaks.bf16, 470)
        XCTAssertEqual(peaks.notes.count, 2)
        XCTAssertTrue(peaks.notes[0].hasPrefix("fp32 FMA peak at 2 threads: the 2-thread repetitions vary by 35%"), peaks.notes[0])
        XCTAssertTrue(peaks.notes[1].hasPrefix("bf16 dot-product peak at 2 threads: 2 threads measured 200.0 GFLOP/s, below 1 thread's 235.0"), peaks.notes[1])
        XCTAssertEqual(speed.peakGflops(threads: 2), 185)
        XCTAssertEqual(speed.peakGflops(threads: 2, arithmetic: .bf16), 470)
        XCTAssertEqual(speed.peaks(threads: 1), Peaks(fp32: 117, bf16: 235, notes: []))
        // Spreads travel with the figures through JSON.
        let decoded = try JSONDecoder().decode(MachineSpeed.self, from: JSONEncoder().encode(speed))
        XCTAssertEqual(decoded, speed)
    }

    /// A machine.json written before spreads were recorded still reads, and its figures are only range-checked.
    func testAnOlderRecordWithoutSpreads() throws {
        let json = #"{"peakGflopsOneCore": 117, "peakGflopsAllCores": 100, "bandwidthGBsOneCore": 17, "bandwidthGBsAllCores": 31}"#
        let old = try JSONDecoder().decode(MachineSpeed.self, from: Data(json.utf8))
        XCTAssertNil(old.peakSpreadAllCores)
        let peaks = old.peaks(threads: ThreadPool.defaultThreads)
        if ThreadPool.defaultThreads > 1 {
            XCTAssertEqual(peaks.fp32, Double(ThreadPool.defaultThreads) * 117)
            XCTAssertEqual(peaks.notes.count, 1)
        }
        XCTAssertNil(peaks.bf16)
    }
}
