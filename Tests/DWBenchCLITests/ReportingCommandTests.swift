import DWCore
import Foundation
import XCTest

final class ReportingCommandTests: XCTestCase {
    func testAlgorithmsListsTheRegistry() throws {
        let result = try CLI.run(["algorithms"])
        XCTAssertEqual(result.status, 0)
        let names = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(names.contains("naive"))
        XCTAssertTrue(names.contains("direct-simd.w8.nchw16c"))
        XCTAssertTrue(names.contains("im2col-gemm.blas"))
        XCTAssertTrue(names.contains { $0.hasPrefix("implicit-gemm") })
        XCTAssertTrue(names.contains { $0.hasPrefix("fft.t") })
    }

    /// The JSON record contract of `dwbench bench`, on a small problem with short timings.
    func testBenchJSONRecords() throws {
        let result = try CLI.run(["bench", "--shape", "n1c20h12w12k5s1p2", "--format", "json", "--min-time", "0.001",
                                  "--repetitions", "2", "--threads", "1", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
        let names = try CLI.run(["algorithms"]).stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(records.map { $0["algorithm"] as? String }, names, "one record per registry entry, in order")
        for r in records {
            XCTAssertEqual(r["problem"] as? String, "n1c20h12w12k5s1p2")
            for key in ["median_ms", "min_ms", "max_ms", "gflops"] {
                let v = try XCTUnwrap(r[key] as? Double, "\(r["algorithm"]!) lacks \(key)")
                XCTAssertGreaterThan(v, 0)
            }
            XCTAssertLessThanOrEqual(r["min_ms"] as! Double, r["median_ms"] as! Double)
            if r["algorithm"] as? String != "naive" {
                XCTAssertLessThanOrEqual(try XCTUnwrap(r["relative_error"] as? Double), 1e-4)
            }
        }
        XCTAssertEqual(records.filter { $0["fastest"] as? Bool == true }.count, 1)
    }

    func testBenchTableMarksTheFastest() throws {
        let result = try CLI.run(["--sizes", "3", "--channels", "17", "--height", "9", "--width", "9", "--min-time", "0.001",
                                  "--repetitions", "1", "--threads", "1", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("n1c17h9w9k3s1p1"))
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("*  ") }.count, 1, result.stdout)
        XCTAssertTrue(result.stdout.contains("GFLOP/s"))
    }

    func testMachineJSON() throws {
        let result = try CLI.run(["machine", "--format", "json", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let speed = try XCTUnwrap(obj["speed"] as? [String: Double])
        XCTAssertGreaterThan(speed["peakGflopsOneCore"] ?? 0, 1)
        XCTAssertGreaterThan(speed["bandwidthGBsOneCore"] ?? 0, 0.1)
        let fp = try XCTUnwrap(obj["fingerprint"] as? [String: Any])
        XCTAssertNotNil(fp["cpuModel"] as? String)
    }
}
