import DWCore
import Foundation
import XCTest

final class ShapeFileTests: XCTestCase {
    func testParsesNamesProblemsAndCounts() throws {
        let file = try ShapeFile(parsing: """
            # comment
            stem.1   n1c128h112w112k3s1p1      # trailing comment

            stage3   n1c512h14w14k27s1p13  18
            again    n1c128h112w112k3s1p1
            """)
        XCTAssertEqual(file.entries.map(\.name), ["stem.1", "stage3", "again"])
        XCTAssertEqual(file.entries[1].count, 18)
        XCTAssertEqual(file.entries[0].count, 1)
        XCTAssertEqual(file.uniqueProblems.map(\.description), ["n1c128h112w112k3s1p1", "n1c512h14w14k27s1p13"])
    }

    /// Files edited on Windows (CRLF, a single Character in Swift) or old Macs (CR) read like LF files,
    /// and errors still name the right line.
    func testAnyLineEnding() throws {
        let lf = try ShapeFile(parsing: "a n1c4h8w8k3s1p1\nb n1c4h8w8o8 2\n")
        for ending in ["\r\n", "\r"] {
            XCTAssertEqual(try ShapeFile(parsing: "a n1c4h8w8k3s1p1\(ending)b n1c4h8w8o8 2\(ending)"), lf, ending.debugDescription)
            XCTAssertThrowsError(try ShapeFile(parsing: "a n1c4h8w8k3s1p1\(ending)b n1c4h8w8k3s0p1")) { error in
                XCTAssertTrue("\(error)".contains("<shapes>:2:"), "\(error)")
            }
        }
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("a n1c1h1w1k1s1p0\nb n1c1h1w1k3s0p0", "<shapes>:2: invalid problem: s (stride height)"),
            ("a n1c1h1w1k1s1p0 0", "<shapes>:1: count '0'"),
            ("a n1c1h1w1k1s1p0\na n1c2h1w1k1s1p0", "duplicate layer name 'a'"),
            ("justone", "expected 'name problem [count]'"),
            ("# nothing\n", "no shapes"),
        ]
        for (text, fragment) in cases {
            XCTAssertThrowsError(try ShapeFile(parsing: text)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
            }
        }
    }

    /// The committed shape files parse and hold what their names promise.
    func testCommittedShapeFiles() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/shapes")
        let replk = try ShapeFile.load(path: dir.appendingPathComponent("replknet31b.txt").path)
        XCTAssertEqual(replk.entries.reduce(0) { $0 + $1.count }, 29, "2 stem + 24 large-kernel + 3 transition layers")
        XCTAssertEqual(Set(replk.entries.compactMap(\.problem.depthwise).filter { $0.kh > 3 }.map(\.kh)), [31, 29, 27, 13])
        XCTAssertEqual(replk.entries.compactMap(\.problem.depthwise).filter { $0.sh == 2 }.count, 4)
        let sweep = try ShapeFile.load(path: dir.appendingPathComponent("sweep.txt").path)
        XCTAssertEqual(sweep.entries.compactMap(\.problem.depthwise?.kh), Array(stride(from: 3, through: 31, by: 2)))
        XCTAssertEqual(try ShapeFile.load(path: dir.appendingPathComponent("headline.txt").path).entries.count, 7)
        // RepLKNet-31B's 1×1 layers at 224²: 12.9 GMAC of its 15.35 (the pointwise issue's figure).
        let pw = try ShapeFile.load(path: dir.appendingPathComponent("replknet31b-pointwise.txt").path)
        let macs = pw.entries.reduce(0.0) { $0 + Double($1.count) * $1.problem.flops / 2 }
        XCTAssertEqual(macs / 1e9, 12.9, accuracy: 0.1)
        XCTAssertTrue(pw.entries.allSatisfy { $0.problem.pointwise != nil })
    }

    func testMixedKindsParse() throws {
        let file = try ShapeFile(parsing: "dw n1c8h8w8k3s1p1\npw n1c8h8w8o16 2\n")
        XCTAssertEqual(file.entries.map(\.problem.kind), [.depthwise, .pointwise])
        XCTAssertEqual(file.depthwiseProblems.count, 1)
    }
}

final class BuiltinShapeTests: XCTestCase {
    func testBuiltinMatchesTheCommittedFile() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/shapes/replknet31b.txt").path
        for name in ShapeFile.builtinNames {
            let file = path.replacingOccurrences(of: "replknet31b.txt", with: "\(name).txt")
            XCTAssertEqual(try ShapeFile.resolve(name), try ShapeFile.load(path: file), name)
        }
        XCTAssertEqual(Set(ShapeFile.builtinNames), ["replknet31b", "replknet31b-pointwise", "convnext-t", "inceptionnext-t", "slak-t",
                                                     "lsknet-s", "unireplknet-t", "unireplknet-t-deploy"])
        XCTAssertEqual(try ShapeFile.resolve(path), try ShapeFile.load(path: path))
    }

    /// The large-kernel family's sets hold the forms their models are known for.
    func testFamilySetsHoldTheirKernelForms() throws {
        func problems(_ name: String) throws -> [Problem] { try ShapeFile.resolve(name).entries.compactMap(\.problem.depthwise) }
        XCTAssertTrue(try problems("slak-t").contains { $0.kh == 51 && $0.kw == 5 && $0.ph == 25 && $0.pw == 2 })
        XCTAssertTrue(try problems("lsknet-s").contains { $0.kh == 7 && $0.dh == 3 && $0.ph == 9 })
        XCTAssertTrue(try problems("inceptionnext-t").contains { $0.kh == 1 && $0.kw == 11 })
        XCTAssertTrue(try problems("unireplknet-t").contains { $0.dh == 5 })
        XCTAssertTrue(try problems("unireplknet-t-deploy").allSatisfy(\.isSquare))
        for name in ShapeFile.builtinNames {
            for p in try problems(name) { XCTAssertEqual(p.oh * p.sh, p.h, "\(name) \(p): not a same-size or halving layer") }
        }
    }

    func testResolveListsAndErrors() throws {
        XCTAssertEqual(try ShapeFile.resolve("n1c8h8w8k3s1p1,n1c8h8w8k5s1p2").entries.compactMap(\.problem.depthwise?.kh), [3, 5])
        XCTAssertThrowsError(try ShapeFile.resolve("missing/file.txt")) { XCTAssertTrue("\($0)".contains("no such shape file")) }
        XCTAssertThrowsError(try ShapeFile.resolve("n1c8h8w8k3s0p1")) { XCTAssertTrue("\($0)".contains("s (stride height)")) }
    }

    func testBF16SuffixOnASet() throws {
        let fp32 = try ShapeFile.resolve("replknet31b-pointwise"), bf16 = try ShapeFile.resolve("replknet31b-pointwise.bf16")
        XCTAssertEqual(bf16.entries.count, fp32.entries.count)
        XCTAssertTrue(bf16.entries.allSatisfy { $0.problem.precision == .bf16 && "\($0.problem)".hasSuffix(".bf16") })
        XCTAssertEqual(bf16.entries.map(\.count), fp32.entries.map(\.count))
        // Depthwise problems have no bf16 variant: the set is unchanged.
        XCTAssertEqual(try ShapeFile.resolve("replknet31b.bf16").entries, try ShapeFile.resolve("replknet31b").entries)
        XCTAssertThrowsError(try ShapeFile.resolve("nosuchset.bf16"))
        XCTAssertThrowsError(try ShapeFile.resolve(".bf16"))
    }
}
