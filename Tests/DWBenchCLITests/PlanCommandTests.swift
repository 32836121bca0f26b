import DWCore
import DWKernels
import DWTune
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
        // Dropping a foreign plan's entries is an error unless asked for; the message names what differs.
        try? FileManager.default.removeItem(atPath: merged)
        let refused = try CLI.run(["plan", "merge", a, foreign, "-o", merged])
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--allow-drop") && refused.stderr.contains("cores 128 there"), refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: merged))
        let r = try CLI.run(["plan", "merge", a, foreign, b, "--allow-drop", "-o", merged])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("1 entries dropped") && r.stdout.contains("from 2 of 3 plans"), r.stderr + r.stdout)
        let both = path("g.json")
        try editPlan(a, both) { obj in
            var mm = obj["machine"] as! [String: Any]
            mm["cores"] = 64
            obj["machine"] = mm
        }
        XCTAssertNotEqual(try CLI.run(["plan", "merge", both, foreign, "-o", path("h.json")]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("h.json")))
    }

    /// A plan from another machine says what differs, field by field; one tuned for another thread count
    /// says how to use it.
    func testForeignPlanNamesWhatDiffers() throws {
        let a = path("a.json"), foreign = path("f.json")
        XCTAssertEqual(try tune(a, mode: "estimate").status, 0)
        try editPlan(a, foreign) { obj in
            var mm = obj["machine"] as! [String: Any]
            var caches = mm["caches"] as! [[String: Any]]
            let l1d = caches.firstIndex { ($0["level"] as? Int) == 1 && ($0["type"] as? String) == "Data" }!
            caches[l1d]["bytes"] = (caches[l1d]["bytes"] as! Int) + 16384
            mm["caches"] = caches
            mm["model"] = 999
            obj["machine"] = mm
        }
        let check = try CLI.run(["plan", "check", foreign, "--threads", "1"])
        XCTAssertEqual(check.status, 2, check.stderr + check.stdout)
        let text = check.stdout + check.stderr
        XCTAssertTrue(text.contains("L1d") && text.contains("there") && text.contains("model 999 there"), text)
        let threads = try CLI.run(["plan", "check", a, "--threads", "2"])
        XCTAssertEqual(threads.status, 2)
        XCTAssertTrue((threads.stdout + threads.stderr).contains("run with --threads 1"), threads.stdout + threads.stderr)
        // A plan written before the CPUID identity was recorded still matches this machine.
        let old = path("old.json")
        try editPlan(a, old) { obj in
            var mm = obj["machine"] as! [String: Any]
            for k in ["vendor", "family", "model", "stepping"] { mm[k] = nil }
            obj["machine"] = mm
        }
        XCTAssertEqual(try CLI.run(["plan", "check", old, "--threads", "1"]).status, 0)
    }

    /// Runs `python3 ARGS`; (status, stdout).
    func python(_ args: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3"] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    /// A plan `tune` writes with both problem kinds is valid against the published schema and readable from
    /// Python with the standard library (dwplan.py), for depthwise and pointwise entries alike.
    func testPythonReaderAndSchema() throws {
        let plan = path("plan.json")
        XCTAssertEqual(try tune(plan, mode: "estimate", extra: ["--shapes", "n1c20h12w12k5s1p2,n1c33h9w9k13s1p6,n1c32h8w8o64"]).status, 0)
        let validator = repoRoot.appendingPathComponent("Benchmarks/plan/validate_plans.py").path
        let (status, summary) = try python([validator, plan])
        XCTAssertEqual(status, 0, "the tuned plan fails plan.schema.json or dwplan.py: \(summary)")
        let entries = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plan))) as! [String: Any]
        let reader = repoRoot.appendingPathComponent("Benchmarks/plan/dwplan.py").path
        for problem in ["n1c33h9w9k13s1p6", "n1c32h8w8o64"] {
            let (code, name) = try python([reader, plan, problem])
            XCTAssertEqual(code, 0, problem)
            XCTAssertEqual(name.trimmingCharacters(in: .whitespacesAndNewlines),
                           ((entries["entries"] as! [String: Any])[problem] as! [String: Any])["algorithm"] as? String, problem)
        }
    }

    /// The three readers of a plan — dwbench (Swift), the JSON Schema and dwplan.py — agree on each of a set of
    /// corrupted plans: all accept it or all refuse it. Cross-field rules a schema cannot state (a key equal to
    /// its entry's problem, a registry name) are refused by both readers and documented in the schema.
    /// plan.schema.json states the ranges of `Plan.Limits`, number by number.
    func testSchemaStatesThePlanLimits() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(contentsOf: repoRoot.appendingPathComponent("Sources/DWTune/plan.schema.json"))) as! [String: Any]
        func at(_ path: String) -> [String: Any] {
            path.split(separator: "/").reduce(schema) { $0[String($1)] as! [String: Any] }
        }
        func range(_ path: String) -> (Double, Bool, Double) {
            let o = at(path)
            let lower = (o["minimum"] ?? o["exclusiveMinimum"]) as! Double
            return (lower, o["minimum"] != nil, o["maximum"] as! Double)
        }
        let entry = "properties/entries/additionalProperties/properties", calibration = "properties/calibration/properties"
        let machine = "$defs/machine/properties", cache = "$defs/machine/properties/caches/items/properties"
        let numbers: [(String, Plan.NumberRange)] = [
            ("\(entry)/margin", Plan.Limits.margin), ("\(entry)/candidates/items/properties/median_ms", Plan.Limits.milliseconds),
            ("\(entry)/candidates/items/properties/spread", Plan.Limits.spread), ("\(calibration)/peak_gflops", Plan.Limits.rate),
            ("\(calibration)/bf16_peak_gflops", Plan.Limits.rate), ("\(calibration)/bandwidth_gbs", Plan.Limits.rate),
            ("\(calibration)/efficiency/additionalProperties", Plan.Limits.efficiency),
            ("\(calibration)/memory_efficiency/additionalProperties", Plan.Limits.efficiency),
        ]
        for (path, limit) in numbers {
            let r = range(path)
            XCTAssertTrue(r == (limit.lower, limit.lowerIncluded, limit.upper), "\(path): the schema says \(r), Plan.Limits \(limit.text)")
        }
        let integers: [(String, ClosedRange<Int>)] = [
            ("properties/threads", Plan.Limits.threads), ("\(entry)/threads", Plan.Limits.threads), ("\(machine)/cores", Plan.Limits.cores),
            ("\(machine)/numaNodes", Plan.Limits.numaNodes), ("\(machine)/family", Plan.Limits.cpuid), ("\(machine)/model", Plan.Limits.cpuid),
            ("\(machine)/stepping", Plan.Limits.cpuid), ("\(cache)/level", Plan.Limits.cacheLevel), ("\(cache)/bytes", Plan.Limits.cacheBytes),
            ("\(cache)/sharedBy", Plan.Limits.cores),
        ]
        for (path, limit) in integers {
            let r = range(path)
            XCTAssertTrue(r == (Double(limit.lowerBound), true, Double(limit.upperBound)), "\(path): the schema says \(r), Plan.Limits \(limit)")
        }
    }

    /// Stand-ins for numbers JSONSerialization cannot write, replaced in the file's text.
    static let infSentinel = 987_654_321_987, nanSentinel = 987_654_321_986

    func testSchemaAndReadersAgreeOnCorruptedPlans() throws {
        let plan = path("base.json")
        XCTAssertEqual(try tune(plan, mode: "estimate", extra: ["--shapes", "n1c20h12w12k5s1p2,n1c33h9w9k13s1p6,n1c32h8w8o64"]).status, 0)
        let pw = "n1c32h8w8o64", dw = "n1c20h12w12k5s1p2"
        func entry(_ o: inout [String: Any], _ key: String, _ edit: (inout [String: Any]) -> Void) {
            var entries = o["entries"] as! [String: Any]
            var e = entries[key] as! [String: Any]
            edit(&e)
            entries[key] = e
            o["entries"] = entries
        }
        func candidate(_ o: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
            entry(&o, dw) { e in
                var cs = e["candidates"] as! [[String: Any]]
                edit(&cs[0])
                e["candidates"] = cs
            }
        }
        // Moves the depthwise entry to another key (its problem follows).
        func rekey(_ o: inout [String: Any], _ key: String) {
            var entries = o["entries"] as! [String: Any]
            var e = entries.removeValue(forKey: dw) as! [String: Any]
            e["problem"] = key
            entries[key] = e
            o["entries"] = entries
        }
        let mutations: [(String, Bool, (inout [String: Any]) -> Void)] = [
            ("unchanged", true, { _ in }),
            ("extra field", true, { $0["note"] = "kept" }),
            ("no entries", true, { $0["entries"] = [String: Any]() }),
            ("candidate reason", true, { candidate(&$0) { $0["reason"] = "why" } }),
            ("schema version 4", false, { $0["schema_version"] = 4 }),
            ("a per-axis entry (version 3)", true, { o in rekey(&o, "n1c20h12w12k5x3s2x1p2x1d1x2") }),
            ("a dilated entry (version 3)", true, { o in rekey(&o, "n1c20h12w12k5s1p2d2") }),
            ("a per-axis entry in version 2", false, { o in
                o["schema_version"] = 2
                rekey(&o, "n1c20h12w12k5x3s1p2x1")
            }),
            ("non-canonical pair key", false, { o in rekey(&o, "n1c20h12w12k5x5s1p2") }),
            ("non-canonical dilation key", false, { o in rekey(&o, "n1c20h12w12k5s1p2d1") }),
            ("version 1: no precision anywhere", true, { o in
                o["schema_version"] = 1
                for key in [dw, pw] { entry(&o, key) { $0["precision"] = nil } }
                var c = o["calibration"] as! [String: Any]; c["bf16_peak_gflops"] = nil; o["calibration"] = c
            }),
            ("version 2 entry without precision", false, { entry(&$0, pw) { $0["precision"] = nil } }),
            ("unknown precision", false, { entry(&$0, pw) { $0["precision"] = "fp16" } }),
            ("a bf16 entry", true, { o in
                var entries = o["entries"] as! [String: Any]
                var e = entries[pw] as! [String: Any]
                e["problem"] = pw + ".bf16"; e["precision"] = "bf16"
                entries[pw + ".bf16"] = e
                o["entries"] = entries
            }),
            ("bf16 peak zero", false, { o in var c = o["calibration"] as! [String: Any]; c["bf16_peak_gflops"] = 0; o["calibration"] = c }),
            ("no generator", false, { $0["generator"] = nil }),
            ("no machine", false, { $0["machine"] = nil }),
            ("zero cores", false, { o in var m = o["machine"] as! [String: Any]; m["cores"] = 0; o["machine"] = m }),
            ("zero threads", false, { $0["threads"] = 0 }),
            ("negative peak", false, { o in var c = o["calibration"] as! [String: Any]; c["peak_gflops"] = -1; o["calibration"] = c }),
            ("leading-zero key", false, { o in
                var entries = o["entries"] as! [String: Any]
                var e = entries.removeValue(forKey: dw) as! [String: Any]
                e["problem"] = "n01c20h12w12k5s1p2"
                entries["n01c20h12w12k5s1p2"] = e
                o["entries"] = entries
            }),
            ("garbage key", false, { o in
                var entries = o["entries"] as! [String: Any]
                entries["conv3x3"] = entries[dw]
                o["entries"] = entries
            }),
            ("unknown mode", false, { entry(&$0, pw) { $0["mode"] = "fast" } }),
            ("entry threads 0", false, { entry(&$0, pw) { $0["threads"] = 0 } }),
            ("negative margin", false, { entry(&$0, dw) { $0["margin"] = -0.5 } }),
            ("confident as text", false, { entry(&$0, dw) { $0["confident"] = "yes" } }),
            ("no candidates", false, { entry(&$0, pw) { $0["candidates"] = nil } }),
            ("unknown status", false, { candidate(&$0) { $0["status"] = "won" } }),
            ("zero median", false, { candidate(&$0) { $0["median_ms"] = 0 } }),
            ("candidate without name", false, { candidate(&$0) { $0["algorithm"] = nil } }),
            // Finite but absurd numbers (issue 23): refused by all three, naming the entry and field.
            ("margin 1e308", false, { entry(&$0, dw) { $0["margin"] = 1e308 } }),
            ("margin 1e17", false, { entry(&$0, dw) { $0["margin"] = 1e17 } }),
            ("margin at its bound", true, { entry(&$0, dw) { $0["margin"] = 1e6 } }),
            ("margin 1e400 (inf in Python)", false, { entry(&$0, dw) { $0["margin"] = Self.infSentinel } }),
            ("margin NaN literal", false, { entry(&$0, dw) { $0["margin"] = Self.nanSentinel } }),
            ("margin true", false, { entry(&$0, dw) { $0["margin"] = true } }),
            ("median 1e12 ms", false, { candidate(&$0) { $0["median_ms"] = 1e12 } }),
            ("median subnormal", true, { candidate(&$0) { $0["median_ms"] = 5e-324 } }),
            ("median -0.001", false, { candidate(&$0) { $0["median_ms"] = -0.001 } }),
            ("spread 1e9", false, { candidate(&$0) { $0["spread"] = 1e9 } }),
            ("entry threads 257", false, { entry(&$0, pw) { $0["threads"] = 257 } }),
            ("entry threads 1e17", false, { entry(&$0, pw) { $0["threads"] = 100_000_000_000_000_000 } }),
            ("entry threads Int.max", false, { entry(&$0, pw) { $0["threads"] = Int.max } }),
            ("plan threads 256", true, { $0["threads"] = 256 }),
            ("plan threads 100000", false, { $0["threads"] = 100_000 }),
            ("zero peak", false, { o in var c = o["calibration"] as! [String: Any]; c["peak_gflops"] = 0; o["calibration"] = c }),
            ("peak 1e10", false, { o in var c = o["calibration"] as! [String: Any]; c["peak_gflops"] = 1e10; o["calibration"] = c }),
            ("bf16 peak 1e300", false, { o in var c = o["calibration"] as! [String: Any]; c["bf16_peak_gflops"] = 1e300; o["calibration"] = c }),
            ("bandwidth 1e400", false, { o in var c = o["calibration"] as! [String: Any]; c["bandwidth_gbs"] = Self.infSentinel; o["calibration"] = c }),
            ("efficiency 1e7", false, { o in var c = o["calibration"] as! [String: Any]; c["efficiency"] = ["fft.t16": 1e7]; o["calibration"] = c }),
            ("memory efficiency 0", false, { o in var c = o["calibration"] as! [String: Any]; c["memory_efficiency"] = ["fft.t16": 0]; o["calibration"] = c }),
            ("cores 2^21", false, { o in var m = o["machine"] as! [String: Any]; m["cores"] = 1 << 21; o["machine"] = m }),
            ("stepping 70000", false, { o in var m = o["machine"] as! [String: Any]; m["stepping"] = 70_000; o["machine"] = m }),
            ("cache of 2^51 bytes", false, { o in
                var m = o["machine"] as! [String: Any]
                m["caches"] = [["level": 2, "type": "Unified", "bytes": 1 << 51, "sharedBy": 1]]
                o["machine"] = m
            }),
            ("cache level 0", false, { o in
                var m = o["machine"] as! [String: Any]
                m["caches"] = [["level": 0, "type": "Unified", "bytes": 1 << 20, "sharedBy": 1]]
                o["machine"] = m
            }),
        ]
        // What `dwbench plan check` says of the absurd numbers: the field, and the entry when there is one.
        let named = ["margin 1e308": "entry \(dw): margin 1e+308 is outside [0, 1e+06]", "margin 1e17": "entry \(dw): margin",
                     "margin 1e400 (inf in Python)": "1e400 is not representable", "median 1e12 ms": "entry \(dw): candidate",
                     "spread 1e9": "spread 1000000000.0 is outside [0, 1e+06]", "entry threads 257": "entry \(pw): threads 257 is outside 1…256",
                     "plan threads 100000": "threads 100000 is outside 1…256", "peak 1e10": "calibration.peak_gflops",
                     "bf16 peak 1e300": "calibration.bf16_peak_gflops", "efficiency 1e7": "calibration.efficiency.fft.t16",
                     "memory efficiency 0": "calibration.memory_efficiency.fft.t16 0.0 is outside (0, 1e+06]",
                     "cores 2^21": "machine.cores 2097152", "stepping 70000": "machine.stepping", "cache of 2^51 bytes": "machine.caches.0.bytes",
                     "cache level 0": "machine.caches.0.level"]
        var files: [String] = []
        for (i, m) in mutations.enumerated() {
            let file = path("m\(i).json")
            try editPlan(plan, file, m.2)
            // Numbers JSONSerialization cannot write: 1e400 (a syntax error to Swift, inf to Python) and NaN (Python's).
            let text = try String(contentsOfFile: file, encoding: .utf8)
                .replacingOccurrences(of: "\(Self.infSentinel)", with: "1e400").replacingOccurrences(of: "\(Self.nanSentinel)", with: "NaN")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            files.append(file)
        }
        let validator = repoRoot.appendingPathComponent("Benchmarks/plan/validate_plans.py").path
        let (status, report) = try python([validator, "--report"] + files)
        XCTAssertEqual(status, 0)
        let lines = report.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, mutations.count)
        for (i, m) in mutations.enumerated() {
            let swift = (try? Plan.load(path: files[i], registry: Registry.names)) != nil
            let schema = lines[i]["schema"] is NSNull, reader = lines[i]["dwplan"] is NSNull
            XCTAssertEqual(swift, m.1, "\(m.0): dwbench \(swift ? "accepts" : "refuses")")
            XCTAssertEqual(schema, m.1, "\(m.0): the schema says \(lines[i]["schema"] ?? "")")
            XCTAssertEqual(reader, m.1, "\(m.0): dwplan.py says \(lines[i]["dwplan"] ?? "")")
            guard let fragment = named[m.0] else { continue }
            let check = try CLI.run(["plan", "check", files[i], "--threads", "1"])
            XCTAssertEqual(check.status, 1, "\(m.0): plan check \(check.stderr)")
            XCTAssertTrue(check.stderr.contains(fragment), "\(m.0): '\(fragment)' not in \(check.stderr)")
        }
        XCTAssertEqual(Set(named.keys).subtracting(mutations.map(\.0)), [])
        // What only the readers can check: a key that is not its entry's problem.
        let swapped = path("swapped.json")
        try editPlan(plan, swapped) { entry(&$0, pw) { $0["problem"] = "n1c32h8w8o65" } }
        XCTAssertNil(try? Plan.load(path: swapped, registry: Registry.names))
        XCTAssertNotEqual(try python([repoRoot.appendingPathComponent("Benchmarks/plan/dwplan.py").path, swapped, pw]).0, 0)
        // … and a precision that is not its problem's (an fp32 key recording bf16).
        let mismatched = path("mismatched.json")
        try editPlan(plan, mismatched) { entry(&$0, pw) { $0["precision"] = "bf16" } }
        XCTAssertNil(try? Plan.load(path: mismatched, registry: Registry.names))
        XCTAssertNotEqual(try python([repoRoot.appendingPathComponent("Benchmarks/plan/dwplan.py").path, mismatched, pw]).0, 0)
    }
}
