/// Unsafe pointers made `Sendable` for fork–join loops. Swift 6 strict concurrency rejects raw
/// pointers captured by closures that may run on other threads; the thread pool guarantees the
/// closure finishes before the call returns and the kernels write disjoint output, so this is safe.
struct SendablePointer<T>: @unchecked Sendable {
    let pointer: UnsafePointer<T>
    init(_ pointer: UnsafePointer<T>) { self.pointer = pointer }
}

struct SendableMutablePointer<T>: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<T>
    init(_ pointer: UnsafeMutablePointer<T>) { self.pointer = pointer }
}

/// Loads and stores of 16 floats at any alignment (`vmovups`).
extension UnsafePointer where Pointee == Float {
    @inline(__always) func load16(_ offset: Int = 0) -> SIMD16<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD16<Float>.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func load16(_ offset: Int = 0) -> SIMD16<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) func store16(_ v: SIMD16<Float>, _ offset: Int = 0) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
