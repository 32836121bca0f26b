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

