import DWCore
import XCTest

final class LayoutTests: XCTestCase {
    func testConversionsRoundTripAndPadBlocks() {
        var rng = SeededGenerator(seed: 5)
        for (n, c, h, w) in [(1, 1, 1, 1), (2, 17, 3, 5), (1, 32, 4, 4), (3, 35, 2, 7)] {
            let values = rng.signedArray(n * c * h * w)
            let t = Tensor(nchw: values, n: n, c: c, h: h, w: w)
            for layout in Layout.allCases {
                let converted = t.converted(to: layout)
                XCTAssertEqual(converted.storage.count, layout.storageCount(n: n, c: c, h: h, w: w))
                XCTAssertEqual(converted.nchwValues(), values, "NCHW → \(layout) → NCHW for \(n)×\(c)×\(h)×\(w)")
                for other in Layout.allCases {
                    XCTAssertEqual(converted.converted(to: other).nchwValues(), values, "\(layout) → \(other)")
                }
            }
            // Specific placements.
            let blocked = t.converted(to: .nchw16c).storage.toArray()
            let last = (n - 1, c - 1, h - 1, w - 1)
            let src = values[((last.0 * c + last.1) * h + last.2) * w + last.3]
            let cb = Layout.blocks(c)
            XCTAssertEqual(blocked[((last.0 * cb + last.1 / 16) * h * w + last.2 * w + last.3) * 16 + last.1 % 16], src)
            // Channels past C in the last block are zero.
            if c % 16 != 0 { XCTAssertEqual(blocked[((cb - 1) * h * w) * 16 + 15], 0) }
            let nhwc = t.converted(to: .nhwc).storage.toArray()
            XCTAssertEqual(nhwc[((last.0 * h + last.2) * w + last.3) * c + last.1], src)
        }
    }

    func testAlignment() {
        for count in [0, 1, 17, 1000, 1 << 20] {
            let b = AlignedBuffer(count: count)
            XCTAssertEqual(Int(bitPattern: b.pointer) % 64, 0)
            XCTAssertTrue(b.buffer.allSatisfy { $0 == 0 }, "zero-filled")
        }
    }
}
