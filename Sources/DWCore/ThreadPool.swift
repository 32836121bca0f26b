#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A fixed pool of worker threads for fork–join loops.
///
/// `parallelFor(count:body:)` runs `body(task, worker)` for every task in `0..<count`, handing tasks to
/// the calling thread plus `threads − 1` workers through one shared counter, and returns when all are
/// done. `worker` is in `0..<threads` and identifies the thread, so callers can give each thread its own
/// workspace. Determinism is the caller's contract: a task must compute the same result whichever
/// thread runs it (all kernels in this package partition output, never a reduction), so results are
/// bitwise identical for any thread count.
///
/// On a multi-node machine worker *i* is bound to NUMA node *i mod nodes*.
/// Cost: one mutex/condition round trip per call (a few microseconds) plus one atomic-like locked
/// increment per task; make tasks coarse (≥ tens of microseconds).
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that execute tasks, including the caller.
    public let threads: Int

    private var mutex = pthread_mutex_t()
    private var wake = pthread_cond_t()
    private var finished = pthread_cond_t()
    private var generation = 0
    private var job: ((Int, Int) -> Void)?
    private var taskCount = 0
    private var nextTask = 0
    private var busyWorkers = 0
    private var shuttingDown = false

    /// Creates a pool with `threads` executing threads (the caller counts as one).
    public init(threads: Int) {
        precondition(threads >= 1, "a thread pool needs at least one thread")
        self.threads = threads
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&wake, nil)
        pthread_cond_init(&finished, nil)
        for worker in 1..<max(threads, 1) {
            let thread = Thread { [unowned self] in self.workerLoop(worker) }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    deinit {
        pthread_mutex_lock(&mutex)
        shuttingDown = true
        pthread_cond_broadcast(&wake)
        pthread_mutex_unlock(&mutex)
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [Int: ThreadPool] = [:]

    /// A process-wide pool with `threads` threads, created on first use and kept.
    public static func shared(threads: Int) -> ThreadPool {
        cacheLock.lock(); defer { cacheLock.unlock() }
        if let pool = cache[threads] { return pool }
        let pool = ThreadPool(threads: threads)
        cache[threads] = pool
        return pool
    }

    /// Default thread count: all online cores.
    public static var defaultThreads: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Runs `body(task, worker)` for each task in `0..<count`; returns when every task has finished.
    public func parallelFor(count: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for t in 0..<count { body(t, 0) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            pthread_mutex_lock(&mutex)
            job = escapable
            taskCount = count
            nextTask = 0
            busyWorkers = threads - 1
            generation &+= 1
            pthread_cond_broadcast(&wake)
            pthread_mutex_unlock(&mutex)

            runTasks(escapable, worker: 0)

            pthread_mutex_lock(&mutex)
            while busyWorkers > 0 { pthread_cond_wait(&finished, &mutex) }
            job = nil
            pthread_mutex_unlock(&mutex)
        }
    }

    private func claimTask() -> Int? {
        pthread_mutex_lock(&mutex); defer { pthread_mutex_unlock(&mutex) }
        guard nextTask < taskCount else { return nil }
        nextTask += 1
        return nextTask - 1
    }

    private func runTasks(_ body: (Int, Int) -> Void, worker: Int) {
        while let t = claimTask() { body(t, worker) }
    }

    private func workerLoop(_ worker: Int) {
        NUMA.runCurrentThread(onNode: worker)
        var seen = 0
        pthread_mutex_lock(&mutex)
        while true {
            while generation == seen && !shuttingDown { pthread_cond_wait(&wake, &mutex) }
            if shuttingDown { break }
            seen = generation
            let body = job!
            pthread_mutex_unlock(&mutex)
            runTasks(body, worker: worker)
            pthread_mutex_lock(&mutex)
            busyWorkers -= 1
            if busyWorkers == 0 { pthread_cond_signal(&finished) }
        }
        pthread_mutex_unlock(&mutex)
    }
}
