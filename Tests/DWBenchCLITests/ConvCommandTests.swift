import DWCore
import DWKernels
import Foundation
import XCTest

/// `dwbench conv` against PyTorch's conv2d(groups=C), on problems no benchmark or tuner uses.
final class ConvCommandTests: XCTestCase {
    struct FixtureCase: Decodable {
        let name: String
        /// As `dwbench conv` takes them: "S" or "SH,SW"; "P", "PH,PW", "same" or "valid"; "D" or "DH,DW".
        let stride: String
        let padding: String
        let dilation: String
        let bias: Bool
    }

    func testMatchesPyTorchForEveryAlgorithm() throws {
        let index = try JSONDecoder().decode([FixtureCase].self,
                                             from: Data(contentsOf: fixturesDirectory.appendingPathComponent("cases.json")))
        XCTAssertGreaterThanOrEqual(index.count, 13)
        XCTAssertTrue(index.contains { $0.padding == "same" } && index.contains { $0.padding == "valid" } && index.contains { $0.dilation != "1" })
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var runs = 0
        for fixture in index {
            let caseDir = fixturesDirectory.appendingPathComponent(fixture.name)
            let expected = try NPYArray.read(path: caseDir.appendingPathComponent("expected.npy").path)
            let problem = try Problem(parsing: fixture.name)
            for name in ["auto"] + Registry.algorithms.map(\.name) {
                if name != "auto", try Registry.algorithm(named: name).supports(problem) != nil { continue }
                let out = dir.appendingPathComponent("\(fixture.name)-\(name).npy").path
                var args = ["conv", "--input", caseDir.appendingPathComponent("input.npy").path,
                            "--weight", caseDir.appendingPathComponent("weight.npy").path,
                            "--stride", fixture.stride, "--padding", fixture.padding, "--dilation", fixture.dilation,
                            "--algorithm", name, "--output", out, "--threads", "2"]
                if fixture.bias { args += ["--bias", caseDir.appendingPathComponent("bias.npy").path] }
                let result = try CLI.run(args)
                XCTAssertEqual(result.status, 0, "\(fixture.name) \(name): \(result.stderr)")
                guard result.status == 0 else { continue }
                let got = try NPYArray.read(path: out)
                XCTAssertEqual(got.shape, expected.shape, "\(fixture.name) \(name)")
                let error = relativeError(got.values, expected.values)
                // 'auto' may pick any algorithm: the loosest bound of the registry.
                let bound = (try? Registry.anyAlgorithm(named: name))?.errorBound ?? Registry.algorithms.map(\.errorBound).max()!
                XCTAssertLessThanOrEqual(error, bound, "\(fixture.name) with \(name): relative error \(error)")
                runs += 1
            }
        }
        XCTAssertGreaterThan(runs, 90)
    }
}
