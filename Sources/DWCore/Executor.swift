import Synchronization

/// Where a plan's work runs. A plan is prepared for one executor and takes its worker count from it; every
/// `execute` splits its work into tasks and hands them to `parallelFor`. Nothing in the package keeps an
/// executor of its own: the caller creates one (a `ThreadPool`, an `InlineExecutor`, or a `HostExecutor` over
/// threads the caller already has) and passes it in.
///
/// Contract: `parallelFor(count:body)` runs `body(task, worker)` once for every task in `0..<count` and returns
/// when all have finished. `worker` is in `0..<threads` and no two tasks running at the same time get the same
/// worker, so a plan can give each worker its own workspace. Kernels partition their outputs, never reduce
/// across tasks, so results are bitwise identical whichever executor runs them and however tasks are spread.
/// One `parallelFor` per executor at a time (not reentrant).
public protocol Executor: AnyObject, Sendable {
    /// How many tasks may run at once (the caller included where it takes part): the plan's worker count.
    var threads: Int { get }
    func parallelFor(count: Int, _ body: @escaping (_ task: Int, _ worker: Int) -> Void)
}

extension ThreadPool: Executor {}

/// Runs every task on the calling thread, in order: one worker, no thread of its own.
public final class InlineExecutor: Executor {
    public init() {}
    public var threads: Int { 1 }
    public func parallelFor(count: Int, _ body: @escaping (_ task: Int, _ worker: Int) -> Void) {
        for task in 0..<max(0, count) { body(task, 0) }
    }
}

/// Runs tasks on the host program's threads through its own parallel-for (oneDNN's threadpool interop,
/// XNNPACK's pthreadpool): the C ABI's `dwconv_context_options.parallel_for`. For a job of `count` tasks the
/// host is asked to run min(`threads`, count) host tasks; host task i is worker i and takes tasks from a shared
/// counter until none are left, so the work balances however the host schedules its tasks. When the host
/// returns, any task it did not run (a host that ran fewer host tasks than asked) runs on the calling thread,
/// so a wrong host can make the call slow, never wrong.
public final class HostExecutor: Executor, @unchecked Sendable {
    /// `void (*)(void *host, void (*task)(void *task_arg, size_t index), void *task_arg, size_t count)`.
    public typealias ParallelFor = @convention(c) (UnsafeMutableRawPointer?, @convention(c) (UnsafeMutableRawPointer?, Int) -> Void,
                                                   UnsafeMutableRawPointer?, Int) -> Void

    public let threads: Int
    private let function: ParallelFor
    private let host: UnsafeMutableRawPointer?

    /// `threads`: how many of its threads the host runs tasks on at once (at least 1).
    public init(threads: Int, parallelFor: ParallelFor, host: UnsafeMutableRawPointer?) {
        precondition(threads >= 1, "a host executor needs at least one thread")
        self.threads = threads
        self.function = parallelFor
        self.host = host
    }

    public func parallelFor(count: Int, _ body: @escaping (_ task: Int, _ worker: Int) -> Void) {
        if count <= 0 { return }
        if threads == 1 || count == 1 {
            for task in 0..<count { body(task, 0) }
            return
        }
        let job = HostJob(count: count, workers: min(threads, count), body: body)
        withExtendedLifetime(job) {
            function(host, hostTaskEntry, Unmanaged.passUnretained(job).toOpaque(), job.workers)
            job.run(worker: 0, checked: false)   // whatever the host left undone
        }
    }
}

/// One host job: the tasks' counter and body, reached from the C trampoline through an unretained pointer.
private final class HostJob: @unchecked Sendable {
    let count: Int
    let workers: Int
    let body: (Int, Int) -> Void
    private let next = Atomic<Int>(0)
    /// Host task indices already started: each worker slot is used by one host task only.
    private let started: Mutex<[Bool]>

    init(count: Int, workers: Int, body: @escaping (Int, Int) -> Void) {
        self.count = count
        self.workers = workers
        self.body = body
        started = Mutex([Bool](repeating: false, count: workers))
    }

    /// Runs tasks as worker `worker` until none are left. `checked`: a host task's index, ignored unless it is a
    /// worker slot not used before (a host that repeats or invents indices gets no second task on one workspace).
    func run(worker: Int, checked: Bool) {
        if checked {
            let fresh = started.withLock { slots in
                guard worker >= 0, worker < workers, !slots[worker] else { return false }
                slots[worker] = true
                return true
            }
            guard fresh else { return }
        }
        while true {
            let task = next.wrappingAdd(1, ordering: .relaxed).oldValue
            if task >= count { return }
            body(task, worker)
        }
    }
}

private let hostTaskEntry: @convention(c) (UnsafeMutableRawPointer?, Int) -> Void = { argument, index in
    guard let argument else { return }
    Unmanaged<HostJob>.fromOpaque(argument).takeUnretainedValue().run(worker: index, checked: true)
}
