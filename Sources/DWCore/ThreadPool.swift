#if canImport(Glibc)
import Glibc
#endif
import Foundation
import CSpin
import Synchronization

/// A fixed pool of worker threads for fork–join loops.
///
/// `parallelFor(count:body:)` runs `body(task, worker)` for every task in `0..<count`, handing tasks to
/// the calling thread plus `threads − 1` workers through one atomic counter, and returns when all are
/// done. `worker` is in `0..<threads` and identifies the thread, so callers can give each thread its own
/// workspace. Determinism is the caller's contract: a task must compute the same result whichever
/// thread runs it (all kernels in this package partition output, never a reduction), so results are
/// bitwise identical for any thread count.
///
/// Latency: after a job, workers spin on the job counter for about `spinSeconds` before sleeping on a
/// condition variable, so back-to-back layers start in well under a microsecond instead of paying a
/// futex wake-up (tens of microseconds, which is the whole run time of a small depthwise layer). A pool
/// embedded in another program (libdwconv inside PyTorch) sets its own spin time, 0 included, so its idle
/// workers do not take cores from the host's threads.
/// On a multi-node machine worker *i* is bound to NUMA node *i mod nodes*.
///
/// A pool belongs to whoever created it (a command, a library context, a test), which passes it to the plans it
/// prepares as their `Executor` and calls `shutdown()` to end its workers; there is no process-wide pool.
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that execute tasks, including the caller.
    public let threads: Int

    /// How long an idle worker spins before it sleeps, unless the creator says otherwise.
    public static let spinSeconds = 0.002

    /// How long this pool's idle workers spin before they sleep (0: sleep at once).
    public let spinSeconds: Double
    private let stopping = Atomic<Bool>(false)
    private let runningWorkers = Atomic<Int>(0)

    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let unfinishedWorkers = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    /// The current job; written by the caller before `generation` is published, read by workers after.
    private nonisolated(unsafe) var job: Unmanaged<Job>?
    private nonisolated(unsafe) var taskCount = 0

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()

    /// Creates a pool with `threads` executing threads (the caller counts as one); `threads − 1` workers start
    /// now and run until `shutdown()`.
    public init(threads: Int, spinSeconds: Double = ThreadPool.spinSeconds) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        self.threads = threads
        self.spinSeconds = max(0, spinSeconds)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        runningWorkers.store(threads - 1, ordering: .sequentiallyConsistent)
        for worker in 1..<max(threads, 1) {
            // The worker holds the pool strongly until it exits (`shutdown`), so the pool outlives its threads.
            let thread = Thread { self.workerLoop(worker) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Ends the workers (after the current job, if any) and waits until they have exited. The pool must not
    /// be used afterwards.
    public func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(&mutex)
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
        while runningWorkers.load(ordering: .acquiring) > 0 { usleep(50) }
    }

    /// Runs `body` on a pool of `threads` threads that is shut down when `body` returns: for work that starts and
    /// ends within one call (a measurement, a tuning run, one command).
    public static func with<T>(threads: Int, spinSeconds: Double = ThreadPool.spinSeconds, _ body: (ThreadPool) throws -> T) rethrows -> T {
        let pool = ThreadPool(threads: threads, spinSeconds: spinSeconds)
        defer { pool.shutdown() }
        return try body(pool)
    }

    /// The most threads anything in the package runs on: a pool, a host executor, a plan, `--threads`. Stated
    /// here once; the C header's DWCONV_MAX_THREADS is checked against it (Sources/DWConv/abi.py).
    public static let maxThreads = 256


    /// Default thread count: all online cores.
    public static var defaultThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Runs `body(task, worker)` for each task in `0..<count`; returns when every task has finished.
    /// Not reentrant: one `parallelFor` per pool at a time.
    public func parallelFor(count: Int, _ body: @escaping (_ task: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for t in 0..<count { body(t, 0) }
            return
        }
        let box = Job(body)
        job = Unmanaged.passUnretained(box)
        taskCount = count
        nextTask.store(0, ordering: .relaxed)
        unfinishedWorkers.store(threads - 1, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(&mutex)
            pthread_cond_broadcast(&wake)
            pthread_mutex_unlock(&mutex)
        }
        runTasks(body, worker: 0)
        while unfinishedWorkers.load(ordering: .acquiring) > 0 { spinPause() }
        job = nil
        withExtendedLifetime(box) {}
    }

    private func runTasks(_ body: (Int, Int) -> Void, worker: Int) {
        let count = taskCount
        while true {
            let t = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if t >= count { break }
            body(t, worker)
        }
    }

    private func workerLoop(_ worker: Int) {
        NUMA.runCurrentThread(onNode: worker)
        var seen = 0
        defer { runningWorkers.wrappingSubtract(1, ordering: .releasing) }
        while true {
            // Spin first, then sleep until the generation moves.
            let deadline = monotonicSeconds() + spinSeconds
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spinPause()
                spins += 1
                if (spinSeconds == 0 || spins & 1023 == 0) && monotonicSeconds() >= deadline {
                    pthread_mutex_lock(&mutex)
                    sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                    while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(&wake, &mutex) }
                    sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(&mutex)
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            job!._withUnsafeGuaranteedRef { runTasks($0.body, worker: worker) }
            unfinishedWorkers.wrappingSubtract(1, ordering: .releasing)
        }
    }
}

/// A CPU hint that this thread is spinning (x86 `pause`), lowering the cost of busy-waiting.
@inline(__always)
func spinPause() { dw_cpu_relax() }

/// The body of one `parallelFor`, owned by the calling thread for the duration of the call; workers reach it
/// through an unretained reference, so no reference count is touched from two threads.
private final class Job {
    let body: (Int, Int) -> Void
    init(_ body: @escaping (Int, Int) -> Void) { self.body = body }
}
