/// The one `Sendable` policy of the project, for fork–join loops (`ThreadPool.parallelFor`): unsafe pointers
/// and plan objects captured by the workers' closure are wrapped here, nowhere else.
///
/// Unsafe pointers made `Sendable` for fork–join loops. Swift 6 strict concurrency rejects raw
/// pointers captured by closures that may run on other threads; the thread pool guarantees the
/// closure finishes before the call returns and the kernels write disjoint output, so this is safe.
public struct SendablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafePointer<T>
    public init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}

public struct SendableMutablePointer<T>: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<T>
    public init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}


/// A value (a prepared plan the workers call back into) made `Sendable` for a fork–join loop: each worker
/// touches only its own workspace slice and disjoint output, and the loop returns only when all are done.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
