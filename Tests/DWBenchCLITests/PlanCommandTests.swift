import DWCore
import Foundation
import XCTest

/// `dwbench tune`, `dwbench plan …`, `--plan` on conv, and the plan read from another language.
final class PlanCommandTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try makeTemporaryDirectory() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }
    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    let problems = "n1c20h12w12k5s1p2,n1c33h9w9k13s1p6"
    let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func tune(_ out: String, mode: String = "measure", extra: [String] = []) throws -> CLIResult {
        try CLI.run(["tune", "--shapes", problems, "--threads", "1", "--output", out, "--mode", mode, "--allow-debug"] + extra)
    }

    func editPlan(_ src: String, _ dst: String, _ edit: (inout [String: Any]) -> Void) throws {
        var obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src))) as! [String: Any]
        edit(&obj)
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: dst))
    }

    func testTuneShowExplainCheck() throws {
        let plan = path("plan.json")
        let t = try tune(plan)
        XCTAssertEqual(t.status, 0, t.stderr)
        XCTAssertTrue(t.stderr.contains("tune: 1/2"), "plain progress lines when stderr is not a terminal: \(t.stderr)")
        let show = try CLI.run(["plan", "show", plan])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("n1c20h12w12k5s1p2") && show.stdout.contains("n1c33h9w9k13s1p6"))
        let explain = try CLI.run(["plan", "explain", plan, "n1c33h9w9k13s1p6"])
        XCTAssertEqual(explain.status, 0, explain.stderr)
        XCTAssertTrue(explain.stdout.contains("margin") && explain.stdout.contains("naive"), explain.stdout)
        XCTAssertNotEqual(try CLI.run(["plan", "explain", plan, "n1c8h8w8k3s1p1"]).status, 0)
        XCTAssertEqual(try CLI.run(["plan", "check", plan, "--threads", "1"]).status, 0)
        XCTAssertEqual(try CLI.run(["plan", "check", plan, "--threads", "2"]).status, 2, "tuned for another thread count")

        let foreign = path("foreign.json")
        try editPlan(plan, foreign) { obj in
            var m = obj["machine"] as! [String: Any]
            m["cpuModel"] = "Some Other CPU"
            obj["machine"] = m
        }
        let check = try CLI.run(["plan", "check", foreign, "--threads", "1"])
        XCTAssertEqual(check.status, 2)
        XCTAssertTrue(check.stderr.contains("another machine"), check.stderr)
        let bad = path("bad.json")
        try editPlan(plan, bad) { $0["schema_version"] = 7 }
        let badCheck = try CLI.run(["plan", "check", bad])
        XCTAssertEqual(badCheck.status, 1)
        XCTAssertEqual(badCheck.stderr.split(separator: "\n").count, 1, badCheck.stderr)
        XCTAssertTrue(badCheck.stderr.contains("unknown plan schema_version 7"))
        try Data("{\"schema_version\": 1, ".utf8).write(to: URL(fileURLWithPath: path("trunc.json")))
        XCTAssertTrue(try CLI.run(["plan", "show", path("trunc.json")]).stderr.contains("not a JSON object"))
    }

    func testConvUsesThePlanAndItsImportRules() throws {
        let plan = path("plan.json")
        XCTAssertEqual(try tune(plan, mode: "estimate").status, 0)
        let x = path("x.npy"), w = path("w.npy")
        try NPYArray(shape: [1, 20, 12, 12], values: (0..<2880).map { Float($0 % 13) / 13 }).write(path: x)
        try NPYArray(shape: [20, 1, 5, 5], values: (0..<500).map { Float($0 % 7) / 7 }).write(path: w)
        let chosen = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plan))) as! [String: Any]
        let algorithm = ((chosen["entries"] as! [String: Any])["n1c20h12w12k5s1p2"] as! [String: Any])["algorithm"] as! String
        let run = try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "2", "--plan", plan, "--threads", "1", "--output", path("y.npy")])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("with \(algorithm) (plan"), run.stderr)
        // Not in the plan: heuristic, noted.
        let other = try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "0", "--plan", plan, "--threads", "1", "--output", path("y2.npy")])
        XCTAssertTrue(other.stderr.contains("not in the plan"), other.stderr)
        XCTAssertNotEqual(try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "0", "--plan", plan, "--plan-only",
                                       "--threads", "1", "--output", path("y3.npy")]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("y3.npy")))
        // Foreign plan: warning and heuristic, or an error with --plan-only.
        let foreign = path("foreign.json")
        try editPlan(plan, foreign) { obj in
            var b = obj["build"] as! [String: Any]
            b["registry_hash"] = "0"
            obj["build"] = b
        }
        let warned = try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "2", "--plan", foreign, "--threads", "1", "--output", path("y4.npy")])
        XCTAssertEqual(warned.status, 0, warned.stderr)
        XCTAssertTrue(warned.stderr.contains("warning") && warned.stderr.contains("another build"), warned.stderr)
        let strict = try CLI.run(["conv", "--input", x, "--weight", w, "--padding", "2", "--plan", foreign, "--plan-only", "--threads", "1", "--output", path("y5.npy")])
        XCTAssertEqual(strict.status, 1)
        XCTAssertTrue(strict.stderr.contains("--plan-only"), strict.stderr)
    }

    func testMergeResolvesByFingerprint() throws {
        let a = path("a.json"), b = path("b.json"), merged = path("m.json")
        XCTAssertEqual(try CLI.run(["tune", "--shapes", "n1c20h12w12k5s1p2", "--threads", "1", "--output", a, "--mode", "estimate"]).status, 0)
        XCTAssertEqual(try CLI.run(["tune", "--shapes", "n1c16h10w10k3s1p1", "--threads", "1", "--output", b, "--mode", "estimate"]).status, 0)
        XCTAssertEqual(try CLI.run(["plan", "merge", a, b, "-o", merged]).status, 0)
        let m = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: merged))) as! [String: Any]
        XCTAssertEqual(Set((m["entries"] as! [String: Any]).keys), ["n1c20h12w12k5s1p2", "n1c16h10w10k3s1p1"])
        let foreign = path("f.json")
        try editPlan(b, foreign) { obj in
            var mm = obj["machine"] as! [String: Any]
            mm["cores"] = 128
            obj["machine"] = mm
        }
        let r = try CLI.run(["plan", "merge", a, foreign, "-o", merged])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("dropped its 1 entries"), r.stderr)
        let both = path("g.json")
        try editPlan(a, both) { obj in
            var mm = obj["machine"] as! [String: Any]
            mm["cores"] = 64
            obj["machine"] = mm
        }
        XCTAssertNotEqual(try CLI.run(["plan", "merge", both, foreign, "-o", path("h.json")]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("h.json")))
    }

    /// The plan is readable from Python with the standard library, and valid against the committed schema.
    func testPythonReaderAndSchema() throws {
        let plan = path("plan.json")
        XCTAssertEqual(try tune(plan, mode: "estimate").status, 0)
        let reader = repoRoot.appendingPathComponent("Benchmarks/plan/dwplan.py").path
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", reader, plan, "n1c33h9w9k13s1p6"]
        let out = Pipe()
        python.standardOutput = out
        try python.run()
        let name = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        python.waitUntilExit()
        XCTAssertEqual(python.terminationStatus, 0)
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plan))) as! [String: Any]
        XCTAssertEqual(name, ((obj["entries"] as! [String: Any])["n1c33h9w9k13s1p6"] as! [String: Any])["algorithm"] as? String)

        let schema = repoRoot.appendingPathComponent("Sources/DWTune/plan.schema.json").path
        let validate = Process()
        validate.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        validate.arguments = ["python3", "-c", "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))", plan, schema]
        try validate.run()
        validate.waitUntilExit()
        XCTAssertEqual(validate.terminationStatus, 0, "the plan validates against plan.schema.json (python3 jsonschema)")
    }
}
