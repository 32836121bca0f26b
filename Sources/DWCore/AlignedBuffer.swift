#if canImport(Glibc)
import Glibc
#endif
import CNuma

/// An owned, 64-byte-aligned, uninitialised-then-zeroed array of `Float`.
///
/// Placement: on a single-node machine memory comes from `posix_memalign`. On a multi-node machine it is
/// interleaved across nodes with libnuma (page aligned, so also 64-byte aligned), which matches the
/// thread pool's round-robin placement of workers over nodes for tensors shared by all workers.
/// Invariant: `pointer` is valid for `count` elements (at least one) and 64-byte aligned for the
/// buffer's whole life; the memory is zero-filled on creation.
public final class AlignedBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    private let byteCount: Int
    private let fromNUMA: Bool

    /// Alignment in bytes of every buffer: one cache line, one `zmm` register.
    public static let alignment = 64

    /// Allocates `count` zeroed floats. `count == 0` allocates one element so the pointer is valid.
    /// Traps only if the system is out of memory; callers bound sizes first (see `Problem.Limits`).
    public init(count: Int) {
        precondition(count >= 0, "negative buffer size")
        self.count = count
        byteCount = max(1, count) * MemoryLayout<Float>.stride
        var raw: UnsafeMutableRawPointer?
        if NUMA.isMultiNode, let p = numa_alloc_interleaved(byteCount) {
            raw = p
            fromNUMA = true
        } else {
            fromNUMA = false
            let rc = posix_memalign(&raw, AlignedBuffer.alignment, byteCount)
            precondition(rc == 0 && raw != nil, "out of memory allocating \(byteCount) bytes")
        }
        memset(raw!, 0, byteCount)
        pointer = raw!.bindMemory(to: Float.self, capacity: max(1, count))
    }

    /// Allocates and copies `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    deinit {
        if fromNUMA { numa_free(pointer, byteCount) } else { free(pointer) }
    }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    /// A copy of the contents as an array.
    public func toArray() -> [Float] { Array(buffer) }

    /// Sets every element to zero.
    public func zero() { memset(pointer, 0, byteCount) }
}
