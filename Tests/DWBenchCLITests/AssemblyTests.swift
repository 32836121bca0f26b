import Foundation
import XCTest

/// The pointwise GEMM's inner loops, read from the built binary's disassembly by the committed checker
/// (Benchmarks/asm/pointwise_asm.py): every tile shape must have 512-bit FMAs and no stack access (spill)
/// in its innermost loop. A change that makes LLVM spill an accumulator fails here, not only in a benchmark.
final class AssemblyTests: XCTestCase {
    func testPointwiseTilesUseZmmFMAsWithoutSpills() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/asm/pointwise_asm.py")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/objdump") else {
            throw XCTSkip("objdump (binutils) is not installed")
        }
        if CLI.sanitized { throw XCTSkip("the binary is instrumented by a sanitizer; its loops are not the release loops") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, CLI.binary.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, text)
        for tile in ["2x14", "4x6", "3x8", "3x9", "3x7"] {
            XCTAssertTrue(text.contains("| \(tile) |"), "no row for \(tile): \(text)")
        }
        XCTAssertTrue(text.contains("vfmadd231ps"), "the 3×8 listing has FMAs")
    }
}
