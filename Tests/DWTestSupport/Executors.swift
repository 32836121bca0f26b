import DWCore
import Synchronization

/// The executors tests run plans on: one `ThreadPool` per thread count for the whole test process (tests
/// prepare thousands of plans; a pool each would start thousands of threads), and a `HostExecutor` whose "host"
/// is such a pool reached through the C calling convention, as a C program's pool would be.
public enum TestExecutors {
    private static let pools = Mutex<[Int: ThreadPool]>([:])

    /// The test process's pool of `threads` threads.
    public static func pool(_ threads: Int) -> ThreadPool {
        pools.withLock { all in
            if let p = all[threads] { return p }
            let p = ThreadPool(threads: threads)
            all[threads] = p
            return p
        }
    }

    /// A host executor of `threads` threads whose parallel-for runs the host tasks on `pool(threads)`, the way
    /// libdwconv's C callback reaches a host's pool: a C function pointer and an opaque host pointer.
    public static func host(_ threads: Int) -> HostExecutor {
        HostExecutor(threads: threads, parallelFor: testHostParallelFor,
                     host: Unmanaged.passUnretained(pool(threads)).toOpaque())
    }
}

private let testHostParallelFor: HostExecutor.ParallelFor = { host, task, argument, count in
    let pool = Unmanaged<ThreadPool>.fromOpaque(host!).takeUnretainedValue()
    let arg = UncheckedSendable(argument)
    pool.parallelFor(count: count) { index, _ in task(arg.value, index) }
}
