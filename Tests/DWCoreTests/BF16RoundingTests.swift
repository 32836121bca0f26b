import DWCore
import Foundation
import XCTest

/// bf16 rounding (`BF16.round`), the rule every bf16 algorithm and its emulation share, against an independent
/// reference on every machine: the nearest bf16 value found by comparing distances in Double.
final class BF16RoundingTests: XCTestCase {
    /// The nearest of the two bf16 neighbours of a finite, normal `x` by distance in Double, ties to the even
    /// one; beyond the largest bf16 by half an ulp, infinity. Written without the bias trick `BF16.round` uses.
    func nearest(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        let down = UInt16(truncatingIfNeeded: bits >> 16)           // toward zero
        let up = down &+ 1                                          // away from zero (may step into infinity)
        let d = abs(Double(x) - Double(BF16.float(down)))
        // Stepping past the largest bf16 reaches infinity, which rounding treats as the next value, 2¹²⁸ (IEEE 754).
        let upValue = up & 0x7fff == 0x7f80 ? (x < 0 ? -0x1p128 : 0x1p128) : Double(BF16.float(up))
        let u = abs(upValue - Double(x))
        if d < u { return down }
        if u < d { return up }
        return down & 1 == 0 ? down : up
    }

    func testSpecialValues() {
        XCTAssertEqual(BF16.round(0), 0x0000)
        XCTAssertEqual(BF16.round(-0.0), 0x8000)
        XCTAssertEqual(BF16.round(.infinity), 0x7f80)
        XCTAssertEqual(BF16.round(-.infinity), 0xff80)
        XCTAssertEqual(BF16.round(1), 0x3f80)
        XCTAssertEqual(BF16.round(-2), 0xc000)
        // Ties: 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷ and goes to the even 1; 1 + 3·2⁻⁸ goes up to 1 + 2⁻⁶.
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3f80_8000)), 0x3f80)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3f81_8000)), 0x3f82)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3f80_8001)), 0x3f81)   // just above the tie
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x3f80_7fff)), 0x3f80)   // just below
        // The largest float rounds past the largest bf16 (0x7f7f) to infinity; the largest bf16 stays.
        XCTAssertEqual(BF16.round(.greatestFiniteMagnitude), 0x7f80)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x7f7f_0000)), 0x7f7f)
        // NaN stays NaN, sign and top payload kept, made quiet; a signalling NaN whose payload is only in the low
        // 16 bits still comes out a NaN (not infinity).
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x7fc0_0000)), 0x7fc0)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0xffc1_2345)), 0xffc1)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x7f80_0001)), 0x7fc0)
        XCTAssertTrue(BF16.float(BF16.round(Float(bitPattern: 0x7fa0_0000))).isNaN)
        // Denormals become zero of the same sign, as vcvtneps2bf16 treats them; the smallest normal stays.
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x0000_0001)), 0x0000)
        XCTAssertEqual(BF16.round(Float(bitPattern: 0x807f_ffff)), 0x8000)
        XCTAssertEqual(BF16.round(.leastNormalMagnitude), 0x0080)
    }

    func testEveryNormalPatternOfASeededSampleRoundsToTheNearest() {
        var rng = SeededGenerator(seed: 16)
        var checked = 0
        for _ in 0..<2_000_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard x.isNormal else { continue }
            let got = BF16.round(x), want = nearest(x)
            if got != want {
                XCTFail("BF16.round(\(x), bits \(String(x.bitPattern, radix: 16))) = \(String(got, radix: 16)), nearest is \(String(want, radix: 16))")
                return
            }
            checked += 1
        }
        XCTAssertGreaterThan(checked, 1_900_000)
    }

    /// Every tie pattern of the low half (bit 15 set, bits 0–14 clear) over a sweep of high halves.
    func testTiesGoToEven() {
        for high in stride(from: UInt32(0x0080), to: 0x7f7f, by: 7) {
            for sign: UInt32 in [0, 0x8000] {
                let x = Float(bitPattern: ((high | sign) << 16) | 0x8000)
                XCTAssertEqual(BF16.round(x), nearest(x))
                XCTAssertEqual(BF16.round(x) & 1, 0)
            }
        }
    }

    func testPrecisionAndProblemText() throws {
        XCTAssertEqual(try Precision(parsing: "bf16"), .bf16)
        XCTAssertThrowsError(try Precision(parsing: "fp16"))
        let p = try PointwiseProblem(parsing: "n1c512h14w14o2048.bf16")
        XCTAssertEqual(p.precision, .bf16)
        XCTAssertEqual(p.description, "n1c512h14w14o2048.bf16")
        XCTAssertEqual(try ConvProblem(parsing: "n1c512h14w14o2048.bf16"), .pointwise(p))
        XCTAssertEqual(try ConvProblem(parsing: "n1c512h14w14o2048").precision, .fp32)
        XCTAssertNotEqual(p, p.with(precision: .fp32))
        // One spelling per problem: fp32 has no suffix; no other suffix; depthwise problems have none.
        for bad in ["n1c512h14w14o2048.fp32", "n1c512h14w14o2048.bf17", "n1c512h14w14o2048.", "n1c512h14w14o2048.bf16.bf16",
                    "n1c128h56w56k31s1p15.bf16"] {
            XCTAssertThrowsError(try ConvProblem(parsing: bad), bad)
        }
        XCTAssertEqual(ConvProblem.depthwise(try Problem(parsing: "n1c128h56w56k31s1p15")).with(precision: .bf16).precision, .fp32)
    }
}
