import DWCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The element types of the checkpoint formats dwbench reads: every dtype the safetensors format defines,
/// which also covers the storages `torch.save` writes for them.
public enum TensorDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64: return 8
        case .f32, .i32: return 4
        case .f16, .bf16, .i16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    /// Whether a model's weights may be stored in this type: the floating-point types that convert to
    /// Float32 without a separate scale (F64 rounds, F16 and BF16 are exact). Integers, booleans and the
    /// 8-bit floats (which need per-tensor scales the format does not carry) are not weights.
    public var isWeightType: Bool { [.f64, .f32, .f16, .bf16].contains(self) }

    /// Whether this is an integer type (BatchNorm's `num_batches_tracked` counters are I64).
    public var isInteger: Bool { [.i64, .i32, .i16, .i8, .u8].contains(self) }
}

/// Read-only bytes of a checkpoint: a file mapped into memory (pages are read when touched, and shared
/// with the page cache), or an in-memory copy (tests, fuzzing). Tensors read from it refer to it, so it
/// lives until the last of them is gone.
public final class MappedBytes: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let mapped: Bool

    /// Maps `path` read-only. Errors name the file.
    public init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw CheckpointFormatError(path, "cannot read file (\(String(cString: strerror(errno))))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw CheckpointFormatError(path, "cannot read file") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw CheckpointFormatError(path, "not a regular file") }
        count = Int(info.st_size)
        mapped = count > 0
        if count == 0 {
            base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw CheckpointFormatError(path, "cannot map file (\(String(cString: strerror(errno))))")
        }
        base = UnsafeRawPointer(p)
    }

    /// A private, 64-byte aligned copy of `data`.
    public init(data: Data) {
        let n = data.count
        count = n
        mapped = false
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(n, 1), alignment: 64)
        data.withUnsafeBytes { if n > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: n) } }
        base = UnsafeRawPointer(p)
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), count) } else { UnsafeMutableRawPointer(mutating: base).deallocate() }
    }

    /// Tells the kernel that `range` will be read in order soon (read-ahead), where it is mapped.
    public func willRead(_ range: Range<Int>) {
        guard mapped, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), range.upperBound - start, MADV_WILLNEED)
    }

    /// Gives back the memory of the whole pages inside `range`, where mapped: they leave this process's
    /// resident set (the file stays in the page cache, and a later read maps them again). For a tensor the
    /// model has consumed, so that the checkpoint and the packed model are never resident in full together.
    public func release(_ range: Range<Int>) {
        guard mapped else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page, end = range.upperBound / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    public subscript(i: Int) -> UInt8 { base.load(fromByteOffset: i, as: UInt8.self) }

    /// The bytes of `range` as Data (a copy; for small records such as headers).
    public func data(_ range: Range<Int>) -> Data { Data(bytes: base + range.lowerBound, count: range.count) }
}

/// A tensor inside a checkpoint file, not yet read: its dtype, shape, strides and where its elements are.
/// Element (i₀, i₁, …) is at byte `byteOffset + size·(offset + Σ iₖ·strideₖ)` of `bytes`. Readers
/// construct it only after checking that every element it addresses lies within its storage.
public struct StoredTensor: Sendable {
    public let dtype: TensorDType
    public let shape: [Int]
    /// Strides in elements (row-major contiguous for safetensors).
    public let strides: [Int]
    public let bytes: MappedBytes
    /// Byte offset of element 0's storage (a safetensors tensor's begin, a torch storage's first byte).
    public let byteOffset: Int
    /// Element offset within that storage (PyTorch's `storage_offset`).
    public let offset: Int
    /// Whether the stored bytes are big-endian (a torch checkpoint written on a big-endian machine).
    public let bigEndian: Bool

    public init(dtype: TensorDType, shape: [Int], strides: [Int], bytes: MappedBytes, byteOffset: Int, offset: Int, bigEndian: Bool = false) {
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.bytes = bytes
        self.byteOffset = byteOffset
        self.offset = offset
        self.bigEndian = bigEndian
    }

    public var count: Int { shape.reduce(1, *) }

    /// Releases the resident pages of this tensor's elements (contiguous tensors; see `MappedBytes.release`).
    public func releasePages() {
        guard isContiguous else { return }
        bytes.release(byteOffset + offset * dtype.size ..< byteOffset + (offset + count) * dtype.size)
    }

    /// Row-major contiguous strides for `shape`.
    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) { strides[i] = s; s *= Swift.max(shape[i], 1) }
        return strides
    }

    /// Whether the elements are stored densely in row-major order (size-1 dimensions may have any stride).
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// The largest element index (relative to `offset`) any element addresses, plus one; 0 when empty.
    /// Nil when a stride is negative or the extent overflows.
    public static func extent(shape: [Int], strides: [Int]) -> Int? {
        if shape.contains(0) { return 0 }
        var last = 0
        for (n, s) in zip(shape, strides) {
            guard n >= 0, s >= 0 else { return nil }
            let (m, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (a, o2) = last.addingReportingOverflow(m)
            guard !o1, !o2 else { return nil }
            last = a
        }
        return last + 1
    }

    /// Whether the values can be used in place: contiguous little-endian F32 at a 4-byte aligned address.
    public var isZeroCopy: Bool {
        dtype == .f32 && !bigEndian && isContiguous && Int(bitPattern: bytes.base + byteOffset + 4 * offset) % 4 == 0
    }

    /// Calls `body` with the values as Float32: a view of the mapped file when `isZeroCopy` (nothing is
    /// copied; pages are read as `body` touches them), else a converted copy (`floats(name:)`).
    public func withFloats<R>(name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        if isZeroCopy {
            let start = (bytes.base + byteOffset + 4 * offset).assumingMemoryBound(to: Float.self)
            return try withExtendedLifetime(bytes) { try body(UnsafeBufferPointer(start: start, count: count)) }
        }
        return try floats(name: name).withUnsafeBufferPointer(body)
    }

    /// The values as Float32: F32 copied, F16 and BF16 converted exactly, F64 rounded to nearest.
    /// Contiguous little-endian F32 is one memory copy. Throws for a type that is not a weight type, and
    /// when the values would not fit in memory (a tensor whose strides repeat a small storage).
    public func floats(name: String) throws -> [Float] {
        guard dtype.isWeightType else {
            throw CheckpointFormatError("tensor '\(name)'", "has dtype \(dtype.rawValue); weights must be F32, F16, BF16 or F64")
        }
        let n = count
        try MemoryBudget.require(Double(n) * 4, for: "tensor '\(name)' (\(shape))")
        let size = dtype.size
        let start = bytes.base + byteOffset
        let swap = bigEndian
        return [Float](unsafeUninitializedCapacity: n) { out, initialized in
            if isContiguous {
                let src = start + offset * size
                bytes.willRead(byteOffset + offset * size ..< byteOffset + (offset + n) * size)
                if dtype == .f32 && !swap {
                    if n > 0 { UnsafeMutableRawPointer(out.baseAddress!).copyMemory(from: src, byteCount: n * 4) }
                } else {
                    for i in 0..<n { out[i] = StoredTensor.element(src, i, dtype, swap) }
                }
            } else {
                // Strided: walk the index space in row-major order.
                var index = [Int](repeating: 0, count: shape.count)
                var position = offset
                for i in 0..<n {
                    out[i] = StoredTensor.element(start, position, dtype, swap)
                    var d = shape.count - 1
                    while d >= 0 {
                        index[d] += 1
                        position += strides[d]
                        if index[d] < shape[d] { break }
                        position -= strides[d] * shape[d]
                        index[d] = 0
                        d -= 1
                    }
                }
            }
            initialized = n
        }
    }

    @inline(__always)
    static func element(_ base: UnsafeRawPointer, _ i: Int, _ dtype: TensorDType, _ swap: Bool) -> Float {
        switch dtype {
        case .f32:
            let bits = base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
            return Float(bitPattern: swap ? bits.byteSwapped : bits)
        case .f16:
            let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            return halfToFloat(swap ? bits.byteSwapped : bits)
        case .bf16:
            let bits = base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)
            return Float(bitPattern: UInt32(swap ? bits.byteSwapped : bits) << 16)
        case .f64:
            let bits = base.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)
            return Float(Double(bitPattern: swap ? bits.byteSwapped : bits))
        default:
            preconditionFailure("not a weight type")
        }
    }
}

/// IEEE 754 half → single, exact (subnormals, infinities and NaNs included).
@inline(__always)
func halfToFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // ±0 or subnormal: mantissa · 2^-24.
        let value = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -value : value
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | (UInt32(exponent + 112) << 23) | (mantissa << 13))
}

/// A checkpoint file that cannot be read: one line naming the file (or tensor) and what is wrong.
public struct CheckpointFormatError: Error, CustomStringConvertible {
    public let description: String
    public init(_ subject: String, _ why: String) { description = "\(subject): \(why)" }
}
