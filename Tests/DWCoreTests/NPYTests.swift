import DWCore
import Foundation
import XCTest

final class NPYTests: XCTestCase {
    func header(_ dict: String, version: UInt8 = 1) -> Data {
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0])
        let text = dict + "\n"
        if version == 1 {
            d.append(contentsOf: [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8)])
        } else {
            d.append(contentsOf: [UInt8(text.utf8.count & 0xFF), UInt8(text.utf8.count >> 8), 0, 0])
        }
        d.append(Data(text.utf8))
        return d
    }

    func floats(_ v: [Float]) -> Data { v.withUnsafeBytes { Data($0) } }

    func testRoundTrip() throws {
        let a = NPYArray(shape: [2, 3, 1, 2], values: (0..<12).map { Float($0) * 0.5 - 2 })
        let data = a.encoded()
        XCTAssertEqual((data.count - 12 * 4) % 64, 0, "data starts 64-byte aligned")
        XCTAssertEqual(try NPYArray.parse(data), a)
        let v = NPYArray(shape: [5], values: [1, 2, 3, 4, 5])
        XCTAssertEqual(try NPYArray.parse(v.encoded()), v)
    }

    func testReadsVersion2AndSpacing() throws {
        let d = header("{ 'shape' : (2,) , 'fortran_order' : False, 'descr' : '<f4' }", version: 2) + floats([1, 2])
        XCTAssertEqual(try NPYArray.parse(d), NPYArray(shape: [2], values: [1, 2]))
    }

    func testRejectsBadFiles() {
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }"
        let cases: [(String, Data, String)] = [
            ("bad magic", Data("PK\u{3}\u{4}not numpy at all".utf8), "bad magic"),
            ("empty", Data(), "bad magic"),
            ("truncated data", header(ok) + floats([1, 2, 3]), "truncated data"),
            ("trailing bytes", header(ok) + floats([1, 2, 3, 4, 5]), "unexpected bytes"),
            ("float64", header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }") + floats([1, 2, 3, 4]), "unsupported dtype '<f8'"),
            ("big endian", header("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }") + floats([1]), "unsupported dtype"),
            ("fortran", header("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }") + floats([1]), "Fortran-order"),
            ("header past end", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 0xFF, 0xFF, 0x7B]), "truncated header"),
            ("missing key", header("{'descr': '<f4', 'shape': (1,), }") + floats([1]), "missing key 'fortran_order'"),
            ("bad shape", header("{'descr': '<f4', 'fortran_order': False, 'shape': (1, x), }"), "bad shape"),
            ("huge claim", header("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 100000), }"), "too large"),
            ("version 9", Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 9, 0, 0, 0]), "unsupported .npy format version"),
        ]
        for (label, data, fragment) in cases {
            XCTAssertThrowsError(try NPYArray.parse(data, path: "x.npy"), label) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(label): \(error)")
                XCTAssertTrue("\(error)".hasPrefix("x.npy: "), "\(label): error must name the file")
            }
        }
    }

    func testMissingFileNamesThePath() {
        XCTAssertThrowsError(try NPYArray.read(path: "/nonexistent/dir/a.npy")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/dir/a.npy"), "\(error)")
        }
    }
}
