import DWCore
import Foundation
import Synchronization
import XCTest

final class RuntimeTests: XCTestCase {
    /// Every executor runs every task exactly once, with a worker index below its thread count that no other task
    /// holds at the same time (per-worker workspaces rely on it): pools, the inline executor, and host executors
    /// over hosts that behave (threads of their own, or all on the caller) and hosts that do not (run nothing,
    /// repeat an index, invent indices): a wrong host may cost speed, never a task or a shared workspace.
    func testExecutorsRunEveryTaskOnceOnExclusiveWorkers() {
        var executors: [(String, any Executor)] = [1, 2, 3, 5].map { ("\($0)-thread pool", ThreadPool(threads: $0, spinSeconds: 0)) }
        executors.append(("inline", InlineExecutor()))
        for (name, host) in hosts { executors.append(("host '\(name)', 3 threads", HostExecutor(threads: 3, parallelFor: host, host: nil))) }
        for (label, executor) in executors {
            for count in [0, 1, 2, 7, 1000] {
                let hits = Mutex([Int](repeating: 0, count: count)), busy = Mutex([Bool](repeating: false, count: executor.threads))
                let badWorker = Atomic<Bool>(false), shared = Atomic<Bool>(false)
                executor.parallelFor(count: count) { task, worker in
                    hits.withLock { $0[task] += 1 }
                    guard worker >= 0 && worker < executor.threads else { badWorker.store(true, ordering: .relaxed); return }
                    if busy.withLock({ b in defer { b[worker] = true }; return b[worker] }) { shared.store(true, ordering: .relaxed) }
                    for _ in 0..<200 { spinHint() }
                    busy.withLock { $0[worker] = false }
                }
                XCTAssertEqual(hits.withLock { $0 }, [Int](repeating: 1, count: count), "\(label), \(count) tasks: not every task ran once")
                XCTAssertFalse(badWorker.load(ordering: .relaxed), "\(label): a worker index outside 0..<\(executor.threads)")
                XCTAssertFalse(shared.load(ordering: .relaxed), "\(label): two tasks ran on one worker at once")
            }
            (executor as? ThreadPool)?.shutdown()
        }
    }

    /// Hosts for `HostExecutor`: two that keep the contract and three that break it.
    private let hosts: [(String, HostExecutor.ParallelFor)] = [
        ("threads", { host, task, argument, count in
            let arg = UncheckedSendable(argument)
            DispatchQueue.concurrentPerform(iterations: count) { task(arg.value, $0) }
        }),
        ("caller", { host, task, argument, count in for i in 0..<count { task(argument, i) } }),
        ("does nothing", { _, _, _, _ in }),
        ("repeats index 0", { host, task, argument, count in
            let arg = UncheckedSendable(argument)
            DispatchQueue.concurrentPerform(iterations: count) { _ in task(arg.value, 0) }
        }),
        ("invents indices", { host, task, argument, count in for i in 0..<count { task(argument, i + 1000) } }),
    ]

    /// A pool created by its owner runs jobs from its own thread while another pool does the same, and ends its
    /// workers on shutdown.
    func testOwnedPoolsRunConcurrentlyAndShutDown() {
        let pools = [ThreadPool(threads: 3, spinSeconds: 0), ThreadPool(threads: 2, spinSeconds: 0)]
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

/// Keeps a task busy for a moment, so that overlapping tasks overlap.
@inline(never) func spinHint() { _ = monotonicSeconds() }
