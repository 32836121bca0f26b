import DWCore
import Foundation

/// A safetensors file (Hugging Face's format for checkpoints): an 8-byte little-endian header length N,
/// N bytes of JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
/// relative to the data region after the header), an optional `"__metadata__"` object, then the data.
///
/// Everything is validated before any tensor is read, and every error names the file and the tensor:
/// a file shorter than its header, a header length beyond the file, a header that is not a JSON object,
/// an unknown dtype, a negative or overflowing shape, offsets out of range or not matching the shape,
/// overlapping tensors. Every dtype of the format is accepted (F64, F32, F16, BF16, I64, I32, I16, I8, U8,
/// BOOL, F8_E4M3, F8_E5M2); `floats(_:)` converts the weight types to Float32 and refuses the others, so a
/// caller decides per tensor (a checkpoint's int64 `num_batches_tracked` counters are simply not read).
/// The file is memory-mapped, so opening a large checkpoint reads only its header.
public struct SafeTensors: Sendable {
    public typealias DType = TensorDType

    public struct Entry: Sendable, Equatable {
        public let name: String
        public let dtype: DType
        public let shape: [Int]
        /// Byte range within the data region.
        public let begin: Int
        public let end: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let path: String
    public let entries: [String: Entry]
    public let metadata: [String: String]
    private let bytes: MappedBytes
    private let dataStart: Int

    /// Largest accepted header, 100 MiB (a checkpoint's header is kilobytes).
    public static let maxHeaderBytes = 100 << 20

    /// Maps `path` (only the header is read now).
    public init(path: String) throws {
        try self.init(bytes: try MappedBytes(path: path), path: path)
    }

    public init(data: Data, path: String = "<safetensors>") throws {
        try self.init(bytes: MappedBytes(data: data), path: path)
    }

    public init(bytes: MappedBytes, path: String) throws {
        self.path = path
        self.bytes = bytes
        let size = bytes.count
        guard size >= 8 else { throw SafeTensorsError(path, "truncated: \(size) bytes, shorter than the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
        guard length <= UInt64(SafeTensors.maxHeaderBytes) else {
            throw SafeTensorsError(path, "header length \(length) exceeds the limit of \(SafeTensors.maxHeaderBytes) bytes: not a safetensors file")
        }
        guard 8 + Int(length) <= size else {
            throw SafeTensorsError(path, "header length \(length) runs past the end of the \(size)-byte file")
        }
        dataStart = 8 + Int(length)
        let header = bytes.data(8..<dataStart)
        guard let object = try? JSONSerialization.jsonObject(with: header), let dict = object as? [String: Any] else {
            throw SafeTensorsError(path, "header is not a JSON object")
        }
        let dataSize = size - dataStart
        var entries: [String: Entry] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in dict {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError(path, "__metadata__ is not an object") }
                for (k, v) in m { metadata[k] = "\(v)" }
                continue
            }
            guard let info = value as? [String: Any] else { throw SafeTensorsError(path, "tensor '\(name)': not an object") }
            guard let dtypeText = info["dtype"] as? String else { throw SafeTensorsError(path, "tensor '\(name)': missing dtype") }
            guard let dtype = DType(rawValue: dtypeText) else {
                throw SafeTensorsError(path, "tensor '\(name)': unknown dtype \(dtypeText) (the format defines \(DType.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let shapeValues = info["shape"] as? [Any] else { throw SafeTensorsError(path, "tensor '\(name)': missing shape") }
            var shape: [Int] = []
            var count = 1
            for v in shapeValues {
                guard let d = (v as? NSNumber)?.intValue, d >= 0, "\(v)" == "\(d)" else {
                    throw SafeTensorsError(path, "tensor '\(name)': shape \(shapeValues) is not a list of non-negative integers")
                }
                let (m, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, m <= 1 << 40 else { throw SafeTensorsError(path, "tensor '\(name)': shape \(shapeValues) is too large") }
                count = m
                shape.append(d)
            }
            guard let offsets = info["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = (offsets[0] as? NSNumber)?.intValue, let end = (offsets[1] as? NSNumber)?.intValue else {
                throw SafeTensorsError(path, "tensor '\(name)': data_offsets must be [begin, end]")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw SafeTensorsError(path, "tensor '\(name)': data_offsets [\(begin), \(end)] out of range (data region is \(dataSize) bytes)")
            }
            guard end - begin == count * dtype.size else {
                throw SafeTensorsError(path, "tensor '\(name)': data_offsets span \(end - begin) bytes but shape \(shape) of \(dtype.rawValue) needs \(count * dtype.size)")
            }
            entries[name] = Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
        }
        let sorted = entries.values.filter { $0.end > $0.begin }.sorted { $0.begin < $1.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where b.begin < a.end {
            throw SafeTensorsError(path, "tensors '\(a.name)' and '\(b.name)' overlap (bytes \(a.begin)–\(a.end) and \(b.begin)–\(b.end))")
        }
        self.entries = entries
        self.metadata = metadata
    }

    /// The tensor `name`, not yet read.
    public func stored(_ name: String) throws -> StoredTensor {
        guard let e = entries[name] else { throw SafeTensorsError(path, "missing tensor '\(name)'") }
        return StoredTensor(dtype: e.dtype, shape: e.shape, strides: StoredTensor.contiguousStrides(e.shape), bytes: bytes,
                            byteOffset: dataStart + e.begin, offset: 0)
    }

    /// The tensor's values as Float32 (F16 and BF16 converted exactly, F64 rounded); other dtypes are refused
    /// with a line naming the tensor and its dtype.
    public func floats(_ name: String) throws -> [Float] {
        do { return try stored(name).floats(name: name) } catch let e as CheckpointFormatError { throw SafeTensorsError(path, e.description) }
    }

    /// Encodes float32 tensors as a safetensors file (names sorted, data packed in that order).
    public static func encode(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let ordered = tensors.sorted { $0.name < $1.name }
        for t in ordered {
            precondition(t.shape.reduce(1, *) == t.values.count, "shape does not match the values of \(t.name)")
            header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
            offset += 4 * t.values.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(json)
        for t in ordered { t.values.withUnsafeBufferPointer { out.append(Data(buffer: $0)) } }
        return out
    }
}

/// A safetensors error: one line naming the file and the tensor.
public typealias SafeTensorsError = CheckpointFormatError
