import Foundation

/// A safetensors file (Hugging Face's format for checkpoints): an 8-byte little-endian header length N,
/// N bytes of JSON mapping each tensor name to `{"dtype", "shape", "data_offsets": [begin, end]}` (offsets
/// relative to the data region after the header), an optional `"__metadata__"` object, then the data.
///
/// Everything is validated before any tensor is read, and every error names the file and the tensor:
/// a file shorter than its header, a header length beyond the file, a header that is not a JSON object,
/// an unsupported dtype, a negative or overflowing shape, offsets out of range or not matching the shape,
/// overlapping tensors. F32, F16 and BF16 are accepted; `floats(_:)` converts to Float32.
/// The file is memory-mapped, so opening a large checkpoint reads only its header.
public struct SafeTensors: Sendable {
    public enum DType: String, Sendable {
        case f32 = "F32"
        case f16 = "F16"
        case bf16 = "BF16"

        public var size: Int { self == .f32 ? 4 : 2 }
    }

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
    private let data: Data
    private let dataStart: Int

    /// Largest accepted header, 100 MiB (a checkpoint's header is kilobytes).
    public static let maxHeaderBytes = 100 << 20

    public init(path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped) } catch {
            throw SafeTensorsError(path, "cannot read file")
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<safetensors>") throws {
        self.path = path
        self.data = data
        guard data.count >= 8 else { throw SafeTensorsError(path, "truncated: \(data.count) bytes, shorter than the 8-byte header length") }
        var length: UInt64 = 0
        for i in 0..<8 { length |= UInt64(data[data.startIndex + i]) << (8 * UInt64(i)) }
        guard length <= UInt64(SafeTensors.maxHeaderBytes) else {
            throw SafeTensorsError(path, "header length \(length) exceeds the limit of \(SafeTensors.maxHeaderBytes) bytes")
        }
        guard 8 + Int(length) <= data.count else {
            throw SafeTensorsError(path, "header length \(length) runs past the end of the \(data.count)-byte file")
        }
        dataStart = 8 + Int(length)
        let header = data.subdata(in: (data.startIndex + 8)..<(data.startIndex + dataStart))
        guard let object = try? JSONSerialization.jsonObject(with: header), let dict = object as? [String: Any] else {
            throw SafeTensorsError(path, "header is not a JSON object")
        }
        let dataSize = data.count - dataStart
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
                throw SafeTensorsError(path, "tensor '\(name)': unsupported dtype \(dtypeText) (F32, F16 and BF16 are read)")
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

    /// The tensor's values as Float32 (F16 and BF16 converted exactly).
    public func floats(_ name: String) throws -> [Float] {
        guard let e = entries[name] else { throw SafeTensorsError(path, "missing tensor '\(name)'") }
        let start = data.startIndex + dataStart + e.begin
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Float] in
            let base = raw.baseAddress! + (start - data.startIndex)
            switch e.dtype {
            case .f32:
                return (0..<e.count).map { Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
            case .f16:
                return (0..<e.count).map { halfToFloat(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
            case .bf16:
                return (0..<e.count).map { Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) << 16) }
            }
        }
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

public struct SafeTensorsError: Error, CustomStringConvertible {
    public let description: String
    init(_ path: String, _ why: String) { description = "\(path): \(why)" }
}
