import DWCore
import XCTest

final class ProblemTests: XCTestCase {
    func testTextFormRoundTrips() throws {
        for text in ["n1c128h56w56k31s1p15", "n8c3h224w224k3s2p1", "n1c1h1w1k1s1p0", "n2c1024h7w7k13s1p6"] {
            let p = try Problem(parsing: text)
            XCTAssertEqual(p.description, text)
            XCTAssertEqual(try Problem(parsing: p.description), p)
        }
    }

    func testOutputSizeAndFlops() throws {
        let p = try Problem(parsing: "n1c128h56w56k31s1p15")
        XCTAssertEqual(p.oh, 56)
        XCTAssertEqual(p.ow, 56)
        XCTAssertEqual(p.flops, 2.0 * 128 * 56 * 56 * 31 * 31)
        let s2 = try Problem(parsing: "n1c64h112w111k3s2p1")
        XCTAssertEqual(s2.oh, 56)
        XCTAssertEqual(s2.ow, 56)
        let big = try Problem(parsing: "n1c16h5w5k31s1p15") // kernel larger than the map
        XCTAssertEqual(big.oh, 5)
        // Every output of a 5×5 map sees all 25 inputs: 25 useful taps of 961.
        XCTAssertEqual(big.usefulFlops, 2.0 * 16 * 25 * 25)
        XCTAssertEqual(try Problem(parsing: "n1c8h9w9k3s1p0").usefulFlops, try Problem(parsing: "n1c8h9w9k3s1p0").flops)
        // 3×3, pad 1 on 4×4: per dimension 2+3+3+2 = 10 valid taps of 12.
        XCTAssertEqual(try Problem(parsing: "n2c3h4w4k3s1p1").usefulFlops, 2.0 * 2 * 3 * 10 * 10)
        XCTAssertEqual(try Problem(parsing: "n1c512h14w14k27s1p13").usefulFlops / (try Problem(parsing: "n1c512h14w14k27s1p13").flops), 196.0 / 729.0, accuracy: 1e-12)
    }

    func testSyntaxErrorsNameTheField() {
        let cases: [(String, String)] = [
            ("n1c128h56w56k31s1", "missing field 'p'"),
            ("n1c128h56w56k31p15s1", "expected 's'"),
            ("n1c128h56w56kXs1p15", "field 'k' (kernel size) has no number"),
            ("n1c128h56w56k31s1p15x", "trailing text 'x'"),
            ("", "missing field 'n'"),
            ("n1c99999999999999999h1w1k1s1p0", "too large"),
            ("N1c128h56w56k31s1p15", "expected 'n'"),
            ("n01c128h56w56k31s1p15", "field 'n' (batch) has a leading zero"),   // one spelling per problem
            ("n1c128h56w56o0512", "field 'o' (output channels) has a leading zero"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try ConvProblem(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(fragment), "'\(text)': \(error)")
            }
        }
    }

    func testImpossibleProblemsNameTheField() {
        let cases: [(String, String)] = [
            ("n1c16h8w8k3s0p1", "s (stride)"),
            ("n0c16h8w8k3s1p1", "n (batch)"),
            ("n1c0h8w8k3s1p1", "c (channels)"),
            ("n1c16h4w8k9s1p1", "h (height)"),          // OH < 1
            ("n1c16h8w4k9s1p1", "w (width)"),           // OW < 1
            ("n1c16h8w8k1024s1p600", "k (kernel size)"), // beyond the limit
            ("n1c100000h100000w100000k3s1p1", "n×c×h×w"),
            ("n1c65536h1w1k1s1p1000", "n×c×oh×ow"),       // padding makes the output 4·10^6 times the input
        ]
        for (text, field) in cases {
            XCTAssertThrowsError(try Problem(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(field), "'\(text)': \(error)")
            }
        }
        XCTAssertThrowsError(try Problem(n: 1, c: 1, h: 8, w: 8, k: 3, s: 1, p: -1)) { error in
            XCTAssertTrue("\(error)".contains("p (padding)"), "\(error)")
        }
    }

    func testCodableUsesTheTextForm() throws {
        let p = try Problem(parsing: "n1c384h32w32k13s1p6")
        let data = try JSONEncoder().encode([p])
        XCTAssertEqual(String(decoding: data, as: UTF8.self), "[\"n1c384h32w32k13s1p6\"]")
        XCTAssertEqual(try JSONDecoder().decode([Problem].self, from: data), [p])
        XCTAssertThrowsError(try JSONDecoder().decode([Problem].self, from: Data("[\"n1\"]".utf8)))
    }
}
