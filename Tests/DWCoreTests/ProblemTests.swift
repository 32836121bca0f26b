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

    /// Rectangles, per-axis strides and paddings, and dilation: one canonical spelling (a pair only where the axes
    /// differ, `d` only where it is not 1), and the redundant spellings parse to the same problem.
    func testFamilyFormsRoundTripCanonically() throws {
        for text in ["n1c124h56w56k51x5s1p25x2", "n1c64h56w56k7s1p9d3", "n2c18h9w30k3x13s2p1x6d1x2", "n1c12h56w56k1x11s1p0x5",
                     "n1c8h30w30k3s2x1p1", "n1c8h30w30k5s1p4d2"] {
            let p = try Problem(parsing: text)
            XCTAssertEqual(p.description, text)
            XCTAssertEqual(try Problem(parsing: p.description), p)
        }
        for (redundant, canonical) in [("n1c8h9w9k3x3s1x1p1x1", "n1c8h9w9k3s1p1"), ("n1c8h9w9k3s1p1d1", "n1c8h9w9k3s1p1"),
                                       ("n1c8h9w9k3s1p1d1x1", "n1c8h9w9k3s1p1"), ("n1c8h20w20k3s1p2d2x2", "n1c8h20w20k3s1p2d2")] {
            XCTAssertEqual(try Problem(parsing: redundant).description, canonical)
        }
        let p = try Problem(parsing: "n2c18h9w30k3x13s2p1x6d1x2")
        XCTAssertEqual([p.kh, p.kw, p.sh, p.sw, p.ph, p.pw, p.dh, p.dw], [3, 13, 2, 2, 1, 6, 1, 2])
        XCTAssertEqual(p.extentW, 25)
        XCTAssertEqual(p.oh, (9 + 2 - 3) / 2 + 1)
        XCTAssertEqual(p.ow, (30 + 12 - 25) / 2 + 1)
        XCTAssertFalse(p.isSquare)
        XCTAssertEqual(p.kernelLabel, "3×13 d1×2")
        XCTAssertEqual(p.weightCount, 18 * 39)
        XCTAssertTrue(try Problem(parsing: "n1c8h9w9k3s1p1").isSquare)
        for bad in ["n1c8h9w9k3xs1p1", "n1c8h9w9k3x3x3s1p1", "n1c8h9w9k3s1p1d", "n1c8h9w9k3s1p1d2q", "n1c8h9w9k03x3s1p1"] {
            XCTAssertThrowsError(try Problem(parsing: bad), bad)
        }
    }

    /// `usefulFlops` against brute force over rectangles, strides and dilations.
    func testUsefulFlopsCountTheTapsThatMeetTheImage() throws {
        for text in ["n1c2h9w30k3x13s2p1x6d1x2", "n1c1h20w20k7s1p9d3", "n1c3h12w7k5s2x1p4d2", "n1c1h56w56k51x5s1p25x2"] {
            let p = try Problem(parsing: text)
            var taps = 0
            for oy in 0..<p.oh {
                for ox in 0..<p.ow {
                    for ky in 0..<p.kh where (0..<p.h).contains(oy * p.sh - p.ph + ky * p.dh) {
                        for kx in 0..<p.kw where (0..<p.w).contains(ox * p.sw - p.pw + kx * p.dw) { taps += 1 }
                    }
                }
            }
            XCTAssertEqual(p.usefulFlops, 2.0 * Double(p.n * p.c * taps), text)
        }
    }

    func testKernelFormsAndPaddingSpecs() throws {
        XCTAssertTrue(try Problem.kernelForm(parsing: "31") == (31, 31, 1, 1))
        XCTAssertTrue(try Problem.kernelForm(parsing: "51x5") == (51, 5, 1, 1))
        XCTAssertTrue(try Problem.kernelForm(parsing: "7d3") == (7, 7, 3, 3))
        XCTAssertTrue(try Problem.kernelForm(parsing: "3x13d1x2") == (3, 13, 1, 2))
        for bad in ["", "x5", "5x", "7d", "7d3x", "k7", "7s1"] { XCTAssertThrowsError(try Problem.kernelForm(parsing: bad), bad) }
        // PyTorch's 'same': a total of d·(k − 1) per axis, the odd one more at the bottom and right.
        XCTAssertTrue(try PaddingSpec.same.sides(kh: 51, kw: 5, dh: 1, dw: 1, sh: 1, sw: 1) == (25, 25, 2, 2))
        XCTAssertTrue(try PaddingSpec.same.sides(kh: 4, kw: 7, dh: 1, dw: 3, sh: 1, sw: 1) == (1, 2, 9, 9))
        XCTAssertThrowsError(try PaddingSpec.same.sides(kh: 3, kw: 3, dh: 1, dw: 1, sh: 2, sw: 1))
        XCTAssertTrue(try PaddingSpec.valid.sides(kh: 3, kw: 3, dh: 1, dw: 1, sh: 2, sw: 1) == (0, 0, 0, 0))
        XCTAssertEqual(try PaddingSpec(parsing: "2,5"), .explicit(h: 2, w: 5))
        XCTAssertEqual(try PaddingSpec(parsing: "3"), .explicit(h: 3, w: 3))
        for bad in ["-1", "1,2,3", "same,1", "", "a"] { XCTAssertThrowsError(try PaddingSpec(parsing: bad), bad) }
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
            ("n1c128h56w56k31s1p15q", "trailing text 'q'"),
            ("n1c128h56w56k31s1p15x", "field 'p' (padding) has no number"),
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
            ("n1c16h8w8k3s0p1", "s (stride height)"),
            ("n1c16h8w8k3s1x0p1", "s (stride width)"),
            ("n1c16h8w8k3s1p1d0", "d (dilation height)"),
            ("n1c16h20w20k3s1p1d1x600", "k (kernel width) 3 with dilation 600 spans 1201"),
            ("n1c16h8w8k3s1p1d5", "h (height) padded height 10 is smaller than the kernel's extent 11"),
            ("n0c16h8w8k3s1p1", "n (batch)"),
            ("n1c0h8w8k3s1p1", "c (channels)"),
            ("n1c16h4w8k9s1p1", "h (height)"),          // OH < 1
            ("n1c16h8w4k9s1p1", "w (width)"),           // OW < 1
            ("n1c16h8w8k1024s1p600", "k (kernel height)"), // beyond the limit
            ("n1c100000h100000w100000k3s1p1", "n×c×h×w"),
            ("n1c65536h1w1k1s1p1000", "n×c×oh×ow"),       // padding makes the output 4·10^6 times the input
        ]
        for (text, field) in cases {
            XCTAssertThrowsError(try Problem(parsing: text), text) { error in
                XCTAssertTrue("\(error)".contains(field), "'\(text)': \(error)")
            }
        }
        XCTAssertThrowsError(try Problem(n: 1, c: 1, h: 8, w: 8, k: 3, s: 1, p: -1)) { error in
            XCTAssertTrue("\(error)".contains("p (padding height)"), "\(error)")
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
