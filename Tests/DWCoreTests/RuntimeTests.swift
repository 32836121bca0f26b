import DWCore
import Foundation
import XCTest

final class RuntimeTests: XCTestCase {
    func testThreadPoolRunsEveryTaskOnce() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool.shared(threads: threads)
            for count in [0, 1, 7, 1000] {
                let hits = AlignedBuffer(count: max(count, 1))
                let workers = AlignedBuffer(count: max(count, 1))
                let h = hits.pointer, wk = workers.pointer
                nonisolated(unsafe) let hp = h, wp = wk
                pool.parallelFor(count: count) { task, worker in
                    hp[task] += 1
                    wp[task] = Float(worker)
                }
                XCTAssertTrue((0..<count).allSatisfy { hits.pointer[$0] == 1 }, "\(threads) threads, \(count) tasks")
                XCTAssertTrue((0..<count).allSatisfy { Int(workers.pointer[$0]) < threads })
            }
        }
    }

    /// A context's own pool (libdwconv): spin 0, stands in for the shared pools inside `using`, runs every
    /// task, and ends its workers on shutdown; two such pools run at once from two threads.
    func testOwnedPoolsAreScopedAndShutDown() {
        let pools = [ThreadPool(threads: 3, spinSeconds: 0), ThreadPool(threads: 2, spinSeconds: 0)]
        XCTAssertTrue(ThreadPool.using(pools[0]) { ThreadPool.shared(threads: 7) } === pools[0])
        XCTAssertFalse(ThreadPool.shared(threads: 3) === pools[0], "the stand-in leaked out of using()")
        let sums = AlignedBuffer(count: 2)
        let s = SendableMutablePointer(sums.pointer)
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            let counts = AlignedBuffer(count: 64)
            let c = SendableMutablePointer(counts.pointer)
            for _ in 0..<200 { pools[i].parallelFor(count: 64) { task, _ in c.pointer[task] += 1 } }
            s.pointer[i] = (0..<64).reduce(0) { $0 + counts.pointer[$1] }
        }
        XCTAssertEqual(sums.pointer[0], 64 * 200)
        XCTAssertEqual(sums.pointer[1], 64 * 200)
        for pool in pools { pool.shutdown() }
    }

    func testMeasurementTakesRepetitions() {
        var calls = 0
        let t = Timing.measure(TimingPolicy(warmup: 2, minRepetitionSeconds: 0.001, repetitions: 4, capSeconds: 10)) { calls += 1 }
        XCTAssertEqual(t.samples.count, 4)
        XCTAssertFalse(t.capped)
        XCTAssertGreaterThanOrEqual(calls, 2 + 4 * t.iterations)
        XCTAssertLessThanOrEqual(t.min, t.median)
        XCTAssertLessThanOrEqual(t.median, t.max)
    }

    func testMeasurementCapsSlowOperations() {
        let t = Timing.measure(TimingPolicy(warmup: 1, minRepetitionSeconds: 1, repetitions: 5, capSeconds: 0.001)) { usleep(5000) }
        XCTAssertTrue(t.capped)
        XCTAssertEqual(t.samples.count, 1)
    }

    func testTimingStatistics() {
        let t = Timing(samples: [3, 1, 2, 10], iterations: 1, capped: false)
        XCTAssertEqual(t.median, 2.5)
        XCTAssertEqual(t.min, 1)
        XCTAssertEqual(t.max, 10)
    }

    func testAtomicWriteReplacesOrLeavesIntact() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dwbench-atomic-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("out.bin").path
        try AtomicFile.write(Data("first".utf8), to: path)
        try AtomicFile.write(Data("second".utf8), to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "second")
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: dir.appendingPathComponent("missing/out.bin").path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        XCTAssertEqual(leftovers, ["out.bin"], "no temporary files left behind")
    }

    func testSeededGeneratorIsReproducibleAndInRange() {
        var a = SeededGenerator(seed: 9), b = SeededGenerator(seed: 9), c = SeededGenerator(seed: 10)
        let x = a.signedArray(1000), y = b.signedArray(1000), z = c.signedArray(1000)
        XCTAssertEqual(x, y)
        XCTAssertNotEqual(x, z)
        XCTAssertTrue(x.allSatisfy { $0 >= -1 && $0 < 1 })
        XCTAssertGreaterThan(x.max()!, 0.9)
        XCTAssertLessThan(x.min()!, -0.9)
    }

    func testFingerprintReadsThisMachine() {
        let fp = MachineFingerprint.current()
        XCTAssertGreaterThanOrEqual(fp.cores, 1)
        XCTAssertGreaterThanOrEqual(fp.numaNodes, 1)
        XCTAssertNotEqual(fp.cpuModel, "")
        XCTAssertTrue(fp.features.allSatisfy { MachineFingerprint.interestingFeatures.contains($0) })
    }
}
