import DWBench
import DWCore
import DWKernels
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
        let records = try benchRecords(result.stdout, threads: 1)
        XCTAssertEqual(records.map { $0["algorithm"] as? String }, Registry.algorithms.map(\.name),
                       "one record per depthwise registry entry, in order")
        for r in records {
            XCTAssertEqual(r["problem"] as? String, "n1c20h12w12k5s1p2")
            if r["status"] as? String == "refused" {
                XCTAssertFalse((r["reason"] as? String ?? "").isEmpty, "a refusal carries its reason")
                continue
            }
            for key in ["median_ms", "min_ms", "max_ms", "gflops", "performed_gflops", "percent_of_peak"] {
                let v = try XCTUnwrap(r[key] as? Double, "\(r["algorithm"]!) lacks \(key)")
                XCTAssertGreaterThan(v, 0)
            }
            XCTAssertLessThanOrEqual(r["min_ms"] as! Double, r["median_ms"] as! Double)
            if r["algorithm"] as? String != "naive" {
                XCTAssertLessThanOrEqual(try XCTUnwrap(r["relative_error"] as? Double), 1e-4)
            }
        }
        XCTAssertEqual(records.filter { $0["fastest"] as? Bool == true }.count, 1)
        // CSV: the records' columns, one line per record.
        let csv = try CLI.run(["bench", "--shape", "n1c20h12w12k5s1p2", "--format", "csv", "--min-time", "0.001",
                               "--repetitions", "1", "--threads", "1", "--allow-debug"])
        let lines = csv.stdout.split(separator: "\n")
        XCTAssertEqual(lines.first, "problem,algorithm,layout,threads,status,reason,median_ms,min_ms,max_ms,gflops,performed_gflops,percent_of_peak,speedup_vs_naive,relative_error,iterations,repetitions,fastest,planned")
        XCTAssertEqual(lines.count, 1 + Registry.algorithms.count)
    }


    func testBenchTableMarksTheFastest() throws {
        let result = try CLI.run(["--sizes", "3", "--channels", "17", "--height", "9", "--width", "9", "--min-time", "0.001",
                                  "--repetitions", "1", "--threads", "1", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("n1c17h9w9k3s1p1"))
        XCTAssertEqual(result.stdout.split(separator: "\n").filter { $0.hasPrefix("*  ") }.count, 1, result.stdout)
        XCTAssertTrue(result.stdout.contains("GFLOP/s"))
    }

    /// Whatever the load (a quiet or a busy machine), the report validates and its stderr warnings are exactly
    /// its peakNotes; each note names the figure used.
    func testMachineJSON() throws {
        let result = try CLI.run(["machine", "--format", "json", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let speed = try XCTUnwrap(obj["speed"] as? [String: Double])
        XCTAssertGreaterThan(speed["peakGflopsOneCore"] ?? 0, 0)
        XCTAssertGreaterThan(speed["bandwidthGBsOneCore"] ?? 0, 0)
        XCTAssertEqual(speed["allCoresThreads"], Double(ThreadPool.defaultThreads))
        let fp = try XCTUnwrap(obj["fingerprint"] as? [String: Any])
        XCTAssertNotNil(fp["cpuModel"] as? String)
        let notes = obj["peakNotes"] as? [String] ?? []
        XCTAssertEqual(result.stderr.split(separator: "\n").map(String.init), notes.map { "warning: \($0)" })
        for note in notes { XCTAssertTrue(note.contains("; using "), note) }
        try assertValidMachineReport(result.stdout)
    }

    /// Disturbed peak measurements (injected) reach every output that divides by them: machine.json and the
    /// machine description, the bench envelope and table; all still valid against their schemas.
    func testPeakNotesReachEveryOutput() throws {
        let busy = MachineSpeed(fp32: (one: PeakSample(gflops: 117, spread: 0.01), all: PeakSample(gflops: 95, spread: 0.3, cpuShare: 0.5)),
                                bf16: nil, bandwidthGBsOneCore: 17, bandwidthGBsAllCores: 31, allCoresThreads: 2)
        let report = MachineReport(fingerprint: MachineFingerprint.current(), speed: busy, threads: 2)
        let note = try XCTUnwrap(report.peakNotes?.first)
        XCTAssertTrue(note.hasSuffix("using 2 × the 1-thread figure, 234.0 GFLOP/s"), note)
        XCTAssertTrue(describeMachine(report.fingerprint, busy, threads: 2).contains("\nwarning        \(note)"))
        XCTAssertFalse(describeMachine(report.fingerprint, busy, threads: 2, notes: false).contains("warning"))
        try assertValidMachineReport(try jsonString(report))
        let quiet = MachineSpeed(fp32: (one: PeakSample(gflops: 117, spread: 0.01), all: PeakSample(gflops: 233, spread: 0.02)),
                                 bf16: nil, bandwidthGBsOneCore: 17, bandwidthGBsAllCores: 31, allCoresThreads: 2)
        let quietJSON = try jsonString(MachineReport(fingerprint: report.fingerprint, speed: quiet, threads: 2))
        XCTAssertFalse(quietJSON.contains("peakNotes"))
        try assertValidMachineReport(quietJSON)

        let peaks = busy.peaks(threads: 2)
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c16h8w8k3s1p1"))
        let raw = try ProblemBenchmark.run(problem, algorithms: [try Registry.anyAlgorithm(named: "direct-simd.w16.nchw16c")], executor: InlineExecutor(),
                                           policy: TimingPolicy(warmup: 0, minRepetitionSeconds: 0.0001, repetitions: 1, capSeconds: 1))
        let recs = records(raw, threads: 2, peak: peaks)
        let table = renderTable(problem, (recs, raw), threads: 2, peak: peaks)
        XCTAssertTrue(table.contains("peak 234.0 GFLOP/s") && table.contains("\n! \(note)"), table)
        let envelope = try jsonString(BenchOutput(threads: 2, peak: peaks, bandwidth: 31, records: recs))
        XCTAssertEqual(try benchRecords(envelope, threads: 2).count, 1)
        let decoded = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(envelope.utf8)) as? [String: Any])
        XCTAssertEqual(decoded["peak_notes"] as? [String], [note])
        XCTAssertEqual(decoded["peak_gflops"] as? Double, 234)
        XCTAssertFalse(try jsonString(BenchOutput(threads: 2, peak: quiet.peaks(threads: 2), bandwidth: 31, records: recs)).contains("peak_notes"))
    }

    /// `dwbench machine --format json` output, as Results/machine.json, against the published schema.
    func assertValidMachineReport(_ json: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(json.utf8).write(to: dir.appendingPathComponent("machine.json"))
        let check = try CLI.validateJSON("results", dir.path)
        XCTAssertEqual(check.status, 0, "machine.json fails its schema: \(check.stderr)", file: file, line: line)
    }
}

final class ReportCommandTests: XCTestCase {
    /// `dwbench report` on tiny sets writes the JSON records, the plots and a README that uses them.
    func testReportWritesResults() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sets = dir.appendingPathComponent("sweep.txt")
        try "k3 n1c20h10w10k3s1p1\nk5 n1c20h10w10k5s1p2\n".write(to: sets, atomically: true, encoding: .utf8)
        let headline = dir.appendingPathComponent("headline.txt")
        try "tiny n1c20h10w10k5s1p2\n".write(to: headline, atomically: true, encoding: .utf8)
        let peer = dir.appendingPathComponent("peer.json")
        try """
        [{"problem": "n1c20h10w10k5s1p2", "algorithm": "someengine-1.0", "layout": "nchw", "threads": 1, "status": "ok",
          "median_ms": 1000.0, "min_ms": 1000.0, "max_ms": 1000.0, "gflops": 0.001, "fastest": false}]
        """.write(to: peer, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("Results").path
        // A whole-model page already in the output directory is linked from the index.
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("DWModelTests/Fixtures")
        let model = try CLI.run(["replknet", "--checkpoint", fixtures.appendingPathComponent("tiny.safetensors").path,
                                 "--batch", "1", "--resolution", "32", "--threads", "1", "--repeat", "1", "--report", out, "--allow-debug"])
        XCTAssertEqual(model.status, 0, model.stderr)
        let result = try CLI.run(["report", "--output", out, "--threads", "1", "--sets", "\(headline.path),\(sets.path)",
                                  "--peers", peer.path, "--min-time", "0.001", "--repetitions", "1", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: out))
        for f in ["README.md", "machine.json", "bench-sweep-1t.json", "bench-headline-1t.json", "sweep-gflops-1t.svg", "headline-vs-peers-1t.svg"] {
            XCTAssertTrue(files.contains(f), "missing \(f) in \(files)")
        }
        let md = try String(contentsOfFile: "\(out)/README.md", encoding: .utf8)
        XCTAssertTrue(md.contains("someengine-1.0"), "the peer is compared")
        XCTAssertTrue(md.contains("| met (≥ 1.5×) |"), "a 1000 ms peer is beaten (K < 13 needs 1.5×): \(md)")
        XCTAssertTrue(md.contains("First K where the FFT beats direct SIMD"))
        XCTAssertTrue(md.contains("[replknet-checkpoint-1t-b1.md](replknet-checkpoint-1t-b1.md)"), "the model page is linked")
        let page = try String(contentsOfFile: "\(out)/replknet-checkpoint-1t-b1.md", encoding: .utf8)
        XCTAssertTrue(page.contains("| **dwbench** |") && page.contains("| stages.3.blocks.1.pw2 |"), page)
        XCTAssertTrue(try String(contentsOfFile: "\(out)/replknet-checkpoint-1t-b1.svg", encoding: .utf8).hasPrefix("<svg"))
        // The model report's schema takes the peak notes a busy machine adds (and only a non-empty list).
        let modelJSON = dir.appendingPathComponent("model.json").path
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/replknet-checkpoint-1t-b1.json"))) as? [String: Any])
        for (notes, valid) in [(["fp32 FMA peak: the 1-thread repetitions vary by 25% (a busy machine); using the best repetition, 117.0 GFLOP/s"], true), ([], false)] {
            object["peak_notes"] = notes
            try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: modelJSON))
            XCTAssertEqual(try CLI.validateJSON("model-report", modelJSON).status == 0, valid, "peak_notes \(notes)")
        }
        let svg = try String(contentsOfFile: "\(out)/sweep-gflops-1t.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("direct-simd.w16.nchw16c"))
        let records = try benchRecords(try String(contentsOfFile: "\(out)/bench-sweep-1t.json", encoding: .utf8), threads: 1)
        XCTAssertEqual(records.count, 2 * Registry.algorithms.count)
    }

    /// A pointwise problem runs through the same command: every pointwise algorithm, checked against the reference.
    func testBenchPointwiseWithEpilogue() throws {
        let result = try CLI.run(["bench", "--shape", "n1c40h5w6o24", "--epilogue", "gelu+residual", "--format", "json",
                                  "--min-time", "0.001", "--repetitions", "1", "--threads", "2", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let records = try benchRecords(result.stdout, threads: 2)
        XCTAssertEqual(records.map { $0["algorithm"] as? String }, Registry.pointwise.map(\.name))
        for r in records where r["algorithm"] as? String != "pointwise-naive" {
            let algorithm = try Registry.pointwiseAlgorithm(named: r["algorithm"] as! String)
            if algorithm.arithmetic == .bf16 {
                // An fp32 problem: the bf16 algorithms refuse it, saying why.
                XCTAssertEqual(r["status"] as? String, "refused")
                XCTAssertTrue((r["reason"] as? String ?? "").contains("bf16 problems"), "\(r)")
                continue
            }
            XCTAssertEqual(r["status"] as? String, "ok")
            XCTAssertLessThan(try XCTUnwrap(r["relative_error"] as? Double), 1e-5, "\(r)")
        }
        // The .bf16 twin: every algorithm runs (the bf16 ones where the CPU has avx512_bf16), within its bound.
        let bf16 = try CLI.run(["bench", "--shape", "n1c40h5w6o24.bf16", "--epilogue", "gelu+residual", "--format", "json",
                                "--min-time", "0.001", "--repetitions", "1", "--threads", "2", "--allow-debug"])
        XCTAssertEqual(bf16.status, 0, bf16.stderr)
        for r in try benchRecords(bf16.stdout, threads: 2) where r["algorithm"] as? String != "pointwise-naive" {
            let algorithm = try Registry.pointwiseAlgorithm(named: r["algorithm"] as! String)
            if algorithm.arithmetic == .bf16 && !BF16Kernels.native {
                XCTAssertEqual(r["reason"] as? String, BF16Kernels.missingInstruction)
                continue
            }
            XCTAssertEqual(r["status"] as? String, "ok", "\(r)")
            XCTAssertLessThan(try XCTUnwrap(r["relative_error"] as? Double), algorithm.errorBound, "\(r)")
            if algorithm.arithmetic == .bf16 { XCTAssertGreaterThan(r["relative_error"] as! Double, 1e-5, "\(r): rounded to bf16?") }
        }
        let table = try CLI.run(["bench", "--shape", "n1c40h5w6o24", "--min-time", "0.001", "--repetitions", "1", "--allow-debug"])
        XCTAssertTrue(table.stdout.contains("GEMM M×N×K = 24×30×40"), table.stdout)
        for bad in [["--epilogue", "gelu+relu"], ["--epilogue", "swish"], ["--algorithms", "fft.t64"]] {
            let r = try CLI.run(["bench", "--shape", "n1c40h5w6o24", "--allow-debug"] + bad)
            XCTAssertNotEqual(r.status, 0, "\(bad)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
        }
    }

    func testBenchShapesBuiltin() throws {
        let result = try CLI.run(["bench", "--shapes", "replknet31b", "--algorithms", "direct-simd.w16.nchw16c", "--format", "csv",
                                  "--min-time", "0.001", "--repetitions", "1", "--threads", "1", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.stdout.split(separator: "\n").count, 1 + 9, "header + the 9 unique RepLKNet-31B depthwise problems")
        let bad = try CLI.run(["bench", "--shapes", "nope/none.txt", "--allow-debug"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("no such shape file"), bad.stderr)
    }

    /// The baseline `check --update` writes validates against the published baseline schema.
    func testGateBaselineMatchesItsSchema() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let baseline = dir.appendingPathComponent("baseline.json").path
        let r = try CLI.run(["check", "--update", "--problems", "n1c32h16w16k3s1p1,n1c32h8w8o64", "--rounds", "5", "--baseline", baseline, "--allow-debug"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let check = try CLI.validateJSON("baseline", baseline)
        XCTAssertEqual(check.status, 0, check.stderr)
    }

    /// `dwbench --version` prints the package version and the build signature, exit 0, stdout only.
    func testVersion() throws {
        let r = try CLI.run(["--version"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("dwbench 0."), r.stdout)
        XCTAssertTrue(r.stdout.contains("registry "), r.stdout)
        XCTAssertEqual(r.stderr, "")
    }
}

/// The records of a `bench --format json` envelope, after checking the envelope against the published
/// schema (Sources/DWBench/bench.schema.json, with python3 jsonschema).
func benchRecords(_ stdout: String, threads: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
    let envelope = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: Any], file: file, line: line)
    XCTAssertEqual(envelope["schema_version"] as? Int, 1, file: file, line: line)
    XCTAssertEqual(envelope["threads"] as? Int, threads, file: file, line: line)
    XCTAssertGreaterThan(envelope["peak_gflops"] as? Double ?? 0, 0, file: file, line: line)
    let dir = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("bench.json").path
    try Data(stdout.utf8).write(to: URL(fileURLWithPath: path))
    let check = try CLI.validateJSON("bench", path)
    XCTAssertEqual(check.status, 0, "bench JSON fails its schema: \(check.stderr)", file: file, line: line)
    return try XCTUnwrap(envelope["records"] as? [[String: Any]], file: file, line: line)
}
