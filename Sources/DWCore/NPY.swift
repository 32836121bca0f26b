import Foundation

/// A float32 array read from or written to a NumPy `.npy` file (format versions 1.0, 2.0, 3.0).
///
/// Only little-endian float32 (`<f4`), C order, is accepted; everything else is refused with an
/// `NPYError` that says what was found. Sizes are checked against the file length before any
/// allocation, so a header that claims more data than the file holds is refused cheaply.
public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape does not match value count")
        self.shape = shape
        self.values = values
    }

    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59] // \x93NUMPY

    /// Reads and validates `path`.
    public static func read(path: String) throws -> NPYArray {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url, options: .mappedIfSafe) } catch {
            throw NPYError(path: path, "cannot read file: \(error.localizedDescription)")
        }
        return try parse(data, path: path)
    }

    /// Parses an in-memory `.npy` image; `path` only names it in errors.
    public static func parse(_ data: Data, path: String = "<memory>") throws -> NPYArray {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw NPYError(path: path, "not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw NPYError(path: path, "truncated header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw NPYError(path: path, "unsupported .npy format version \(major).\(bytes[7])")
        }
        guard headerStart + headerLength <= data.count else {
            throw NPYError(path: path, "truncated header (claims \(headerLength) bytes)")
        }
        let headerBytes = data.subdata(in: data.startIndex + headerStart ..< data.startIndex + headerStart + headerLength)
        guard let header = String(data: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw NPYError(path: path, "header is not text")
        }
        let dict = try NPYHeader.parse(header, path: path)
        guard dict.descr == "<f4" || dict.descr == "=f4" || dict.descr == "f4" else {
            throw NPYError(path: path, "unsupported dtype '\(dict.descr)' (only float32 '<f4' is accepted)")
        }
        guard !dict.fortranOrder else {
            throw NPYError(path: path, "Fortran-order arrays are not supported (save with C order)")
        }
        var count = 1
        for d in dict.shape {
            let (m, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow, m <= Int(Int32.max) * 4 else { throw NPYError(path: path, "shape \(dict.shape) is too large") }
            count = m
        }
        let dataStart = headerStart + headerLength
        let available = data.count - dataStart
        guard available >= count * 4 else {
            throw NPYError(path: path, "truncated data: shape \(dict.shape) needs \(count * 4) bytes, file has \(available)")
        }
        guard available == count * 4 else {
            throw NPYError(path: path, "\(available - count * 4) unexpected bytes after the data")
        }
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in
                if count > 0 { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[dataStart ..< dataStart + count * 4])) }
            }
        }
        // The file is little-endian; this machine is too (x86-64, AArch64), but stay correct elsewhere.
        if UInt32(littleEndian: 1) != 1 {
            values = values.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        }
        return NPYArray(shape: dict.shape, values: values)
    }

    /// The `.npy` (version 1.0) encoding of this array, header padded so data starts 64-byte aligned.
    public func encoded() -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data(NPYArray.magic)
        data.append(contentsOf: [1, 0, UInt8(header.utf8.count & 0xFF), UInt8(header.utf8.count >> 8)])
        data.append(header.data(using: .ascii)!)
        values.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    /// Writes atomically (temporary file in the same directory, then rename).
    public func write(path: String) throws {
        try AtomicFile.write(encoded(), to: path)
    }
}

/// A `.npy` problem, naming the file.
public struct NPYError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public init(path: String, _ reason: String) { self.path = path; self.reason = reason }
    public var description: String { "\(path): \(reason)" }
}

/// The header dictionary of a `.npy` file: a Python literal such as
/// `{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 4, 4), }`.
struct NPYHeader {
    var descr = ""
    var fortranOrder = false
    var shape: [Int] = []

    static func parse(_ text: String, path: String) throws -> NPYHeader {
        var scanner = Substring(text)
        var result = NPYHeader()
        var seen = Set<String>()
        func fail(_ why: String) -> NPYError { NPYError(path: path, "malformed header: \(why)") }
        func skipSpace() { while let c = scanner.first, c == " " || c == "\n" || c == "\t" { scanner.removeFirst() } }
        func expect(_ c: Character) throws {
            skipSpace()
            guard scanner.first == c else { throw fail("expected '\(c)'") }
            scanner.removeFirst()
        }
        func quoted() throws -> String {
            skipSpace()
            guard let q = scanner.first, q == "'" || q == "\"" else { throw fail("expected a quoted string") }
            scanner.removeFirst()
            guard let end = scanner.firstIndex(of: q) else { throw fail("unterminated string") }
            let s = String(scanner[..<end])
            scanner = scanner[scanner.index(after: end)...]
            return s
        }
        try expect("{")
        while true {
            skipSpace()
            if scanner.first == "}" { scanner.removeFirst(); break }
            let key = try quoted()
            try expect(":")
            skipSpace()
            switch key {
            case "descr":
                result.descr = try quoted()
            case "fortran_order":
                if scanner.hasPrefix("True") { result.fortranOrder = true; scanner.removeFirst(4) }
                else if scanner.hasPrefix("False") { result.fortranOrder = false; scanner.removeFirst(5) }
                else { throw fail("fortran_order is not True or False") }
            case "shape":
                try expect("(")
                var dims: [Int] = []
                while true {
                    skipSpace()
                    if scanner.first == ")" { scanner.removeFirst(); break }
                    let digits = scanner.prefix(while: { $0.isASCII && $0.isNumber })
                    guard !digits.isEmpty, digits.count <= 12, let d = Int(digits) else { throw fail("bad shape dimension") }
                    dims.append(d)
                    scanner.removeFirst(digits.count)
                    skipSpace()
                    if scanner.first == "," { scanner.removeFirst() } else if scanner.first != ")" { throw fail("bad shape tuple") }
                }
                result.shape = dims
            default:
                throw fail("unknown key '\(key)'")
            }
            seen.insert(key)
            skipSpace()
            if scanner.first == "," { scanner.removeFirst() } else if scanner.first != "}" { throw fail("expected ',' or '}'") }
        }
        for key in ["descr", "fortran_order", "shape"] where !seen.contains(key) {
            throw fail("missing key '\(key)'")
        }
        return result
    }
}
