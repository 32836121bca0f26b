import DWCore
import DWKernels
import DWTune
import Foundation
import XCTest

final class PlanTests: XCTestCase {
    let registry = Registry.names

    func tinyPlan(mode: Tuner.Mode = .measure, problems: [String] = ["n1c20h12w12k5s1p2", "n1c17h9w9k13s1p6"]) throws -> Plan {
        let tuner = Tuner(executor: InlineExecutor(), mode: mode, model: CostModel(peakGflops: 100, bandwidthGBs: 20))
        return tuner.tune(try problems.map(ConvProblem.init(parsing:)))
    }

    func testMeasureModeChoosesTheFastestMeasuredCandidate() throws {
        let plan = try tinyPlan()
        XCTAssertEqual(plan.entries.count, 2)
        for (key, e) in plan.entries {
            XCTAssertEqual(e.problem, key)
            XCTAssertEqual(e.mode, .measure)
            let measured = e.candidates.filter { $0.status == .measured }
            XCTAssertFalse(measured.isEmpty)
            XCTAssertEqual(e.algorithm, measured.min { $0.median_ms! < $1.median_ms! }!.algorithm)
            XCTAssertTrue(e.candidates.contains { $0.algorithm == "naive" && $0.status == .refused }, "naive is never a candidate")
            // Every registry algorithm of the problem's kind is accounted for, and no other.
            XCTAssertEqual(Set(e.candidates.map(\.algorithm)), Set(Registry.algorithms.map(\.name)))
            for c in e.candidates where c.status == .dropped {
                XCTAssertGreaterThan(c.median_ms!, measured.map { $0.median_ms! }.min()!, "a dropped candidate was slower than the winner")
            }
            XCTAssertGreaterThanOrEqual(e.margin, 0)
        }
        // Calibration learned an efficiency for every measured algorithm.
        XCTAssertFalse(plan.calibration.efficiency.isEmpty && plan.calibration.memory_efficiency.isEmpty)
    }

    func testExhaustiveDropsNobodyAndEstimateMeasuresNothing() throws {
        let exhaustive = try tinyPlan(mode: .exhaustive, problems: ["n1c20h12w12k5s1p2"])
        XCTAssertFalse(exhaustive.entries.values.flatMap(\.candidates).contains { $0.status == .dropped })
        let estimate = try tinyPlan(mode: .estimate, problems: ["n1c384h32w32k31s1p15", "n1c384h32w32k3s1p1"])
        for e in estimate.entries.values {
            XCTAssertEqual(e.mode, .estimate)
            XCTAssertTrue(e.candidates.allSatisfy { $0.status == .estimated || $0.status == .refused })
        }
        // The roofline ranks the FFT first for K = 31 and direct SIMD first for K = 3.
        XCTAssertTrue(estimate.entries["n1c384h32w32k31s1p15"]!.algorithm.hasPrefix("fft"))
        XCTAssertTrue(estimate.entries["n1c384h32w32k3s1p1"]!.algorithm.hasPrefix("direct-simd"))
    }

    func testRoundTripAndValidation() throws {
        let plan = try tinyPlan(mode: .estimate)
        let data = try plan.encoded()
        XCTAssertEqual(try Plan.decode(data, path: "p.json", registry: registry), plan)

        func mutate(_ edit: (inout [String: Any]) -> Void) throws -> Data {
            var obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
            edit(&obj)
            return try JSONSerialization.data(withJSONObject: obj)
        }
        let cases: [(String, Data, String)] = [
            ("garbage", Data("{not json".utf8), "not a JSON object"),
            ("version", try mutate { $0["schema_version"] = 99 }, "unknown plan schema_version 99"),
            ("no version", try mutate { $0["schema_version"] = nil }, "missing schema_version"),
            ("missing field", try mutate { $0["threads"] = nil }, "missing 'threads'"),
            ("unknown algorithm", try mutate { obj in
                var entries = obj["entries"] as! [String: Any]
                var e = entries["n1c20h12w12k5s1p2"] as! [String: Any]
                e["algorithm"] = "winograd.f6"
                entries["n1c20h12w12k5s1p2"] = e
                obj["entries"] = entries
            }, "unknown algorithm 'winograd.f6'"),
            ("bad key", try mutate { obj in
                var entries = obj["entries"] as! [String: Any]
                entries["n1c20"] = entries.removeValue(forKey: "n1c20h12w12k5s1p2")
                obj["entries"] = entries
            }, "entry key 'n1c20'"),
        ]
        for (label, bytes, fragment) in cases {
            XCTAssertThrowsError(try Plan.decode(bytes, path: "p.json", registry: registry), label) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(label): \(error)")
                XCTAssertFalse("\(error)".contains("\n"), "\(label): one line")
            }
        }
    }

    func testImportRules() throws {
        var plan = try tinyPlan(mode: .estimate)
        let here = MachineFingerprint.current(), build = BuildSignature.current(registryNames: registry)
        XCTAssertNil(plan.mismatch(machine: here, build: build, threads: 1))
        XCTAssertNotNil(plan.mismatch(machine: here, build: build, threads: 2))
        var other = plan
        other.machine.cpuModel = "Some Other CPU"
        XCTAssertTrue(other.mismatch(machine: here, build: build)!.contains("another machine"))
        other = plan
        other.build.registry_hash = "0"
        XCTAssertTrue(other.mismatch(machine: here, build: build)!.contains("another build"))

        let planner = Planner(plan: plan)
        XCTAssertEqual(try planner.choose(try ConvProblem(parsing: "n1c20h12w12k5s1p2")).algorithm.name, plan.entries["n1c20h12w12k5s1p2"]!.algorithm)
        XCTAssertEqual(try planner.choose(try ConvProblem(parsing: "n1c8h8w8k3s1p1")).source, .heuristic(.notInPlan))
        let strict = Planner(plan: plan, planOnly: true)
        XCTAssertThrowsError(try strict.choose(try ConvProblem(parsing: "n1c8h8w8k3s1p1")))

        // A plan file from another machine: warning and heuristic, or an error with planOnly.
        plan.machine.cpuModel = "Some Other CPU"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("foreign-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try plan.write(path: path)
        let lenient = try Planner.open(path: path, threads: 1, planOnly: false)
        XCTAssertNil(lenient.plan)
        XCTAssertTrue(lenient.warning!.contains("another machine"))
        XCTAssertEqual(try lenient.choose(try ConvProblem(parsing: "n1c20h12w12k5s1p2")).sourceText, "heuristic")
        XCTAssertThrowsError(try Planner.open(path: path, threads: 1, planOnly: true)) { error in
            XCTAssertTrue("\(error)".contains("--plan-only"), "\(error)")
        }
    }

    /// A tuner whose rounds take the times `quick` and `final` give (per candidate rank: 0 is the first candidate
    /// of the problem), with every call recorded. No candidate runs, so nothing here depends on the machine.
    func fakeTimed(_ problem: ConvProblem, mode: Tuner.Mode = .measure, quick: @escaping (Int) -> Double,
                   final: @escaping (Int) -> Double) -> (Tuner, names: [String], calls: () -> [(Tuner.Round, [Int])]) {
        var tuner = Tuner(executor: InlineExecutor(), mode: mode, model: CostModel(peakGflops: 100, bandwidthGBs: 20))
        let names = Registry.candidates(for: problem, among: tuner.algorithms).supported.map(\.name)
        final class Log { var calls: [(Tuner.Round, [Int])] = [] }
        let log = Log()
        tuner.timer = { round, timed in
            let ranks = timed.map { names.firstIndex(of: $0)! }
            log.calls.append((round, ranks))
            return ranks.map { r in
                let t = round == .quick ? quick(r) : final(r)
                return Timing(samples: [t, t, t], iterations: 1, capped: false)
            }
        }
        return (tuner, names, { log.calls })
    }

    /// The busy-machine case of issue 23: the quick round ran on a quiet machine (winner 4.9 µs, the next 7.4 µs, so
    /// dropped), the final round on a busy one (184 µs). The plan used to record margin 7.4 / 184 − 1 = −0.96, which
    /// its own reader refuses. The dropped candidate is now timed again with the winner, in one round.
    func testABusyFinalRoundRecallsTheDroppedAndWritesAValidPlan() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c20h12w12k5s1p2"))
        let (tuner, names, calls) = fakeTimed(problem, quick: { [4.9e-6, 7.4e-6][safe: $0] ?? 500e-6 },
                                              final: { [184e-6, 200e-6][safe: $0] ?? 1e-3 })
        XCTAssertGreaterThan(names.count, 2)
        let plan = tuner.tune([problem])
        XCTAssertNil(plan.schemaViolation())
        let e = try XCTUnwrap(plan.entries["\(problem)"])
        XCTAssertEqual(e.algorithm, names[0])
        XCTAssertEqual(e.margin, 200.0 / 184 - 1, accuracy: 1e-12, "the margin compares the two final-round times")
        XCTAssertEqual(e.candidates.first { $0.algorithm == names[1] }?.status, .measured, "the dropped candidate was timed again")
        XCTAssertEqual(calls().map(\.0), [.quick, .final, .final])
        XCTAssertEqual(calls()[1].1, [0])
        XCTAssertEqual(calls()[2].1, [0, 1], "only the candidate whose quick time beat the winner's final time is recalled")
        for c in e.candidates where c.status == .dropped {
            XCTAssertGreaterThanOrEqual(c.median_ms!, 0.184, "\(c.algorithm) was dropped although faster than the winner")
        }
        // The written plan reads back.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("busy-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try plan.write(path: path)
        XCTAssertEqual(try Plan.load(path: path, registry: registry).entries, plan.entries)
    }

    /// With one finalist the margin is the quick round's (both were timed there), not the dropped candidate's quick
    /// time over the winner's final time.
    func testASingleFinalistsMarginComesFromTheQuickRound() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c20h12w12k5s1p2"))
        let (tuner, names, calls) = fakeTimed(problem, quick: { $0 == 0 ? 1e-6 : 2e-6 * Double($0) }, final: { _ in 1.5e-6 })
        let e = try XCTUnwrap(tuner.tune([problem]).entries["\(problem)"])
        XCTAssertEqual(e.algorithm, names[0])
        XCTAssertEqual(e.margin, 1, accuracy: 1e-12, "2 µs over 1 µs in the quick round")
        XCTAssertEqual(calls().count, 2, "nothing to recall: the dropped were slower than the winner's final time")
        XCTAssertTrue(e.confident)
    }

    /// Timings no plan can hold (a zero, a year) refuse their candidate with the value; a huge margin is recorded as
    /// the bound. Whatever the clock says, the plan validates.
    func testTimingsOutsideThePlansRangesAreNotWritten() throws {
        let problem = ConvProblem.depthwise(try Problem(parsing: "n1c20h12w12k5s1p2"))
        let (tuner, names, _) = fakeTimed(problem, mode: .exhaustive, quick: { _ in 1e-6 },
                                          final: { [1e-12, 0, 3.2e7, 1e-3][safe: $0] ?? 1 })
        let plan = tuner.tune([problem])
        XCTAssertNil(plan.schemaViolation())
        let e = try XCTUnwrap(plan.entries["\(problem)"])
        XCTAssertEqual(e.algorithm, names[0])
        XCTAssertEqual(e.margin, Plan.Limits.margin.upper, "1 ms over 1 ps: a billion, recorded as the bound")
        for r in [1, 2] {
            let c = try XCTUnwrap(e.candidates.first { $0.algorithm == names[r] })
            XCTAssertEqual(c.status, .refused)
            XCTAssertTrue(c.reason?.contains("outside a plan's ranges") == true, c.reason ?? "")
        }
    }

    /// `Plan.write` refuses a plan its reader would refuse, and leaves no file.
    func testAnInvalidPlanIsNotWritten() throws {
        var plan = try tinyPlan(mode: .estimate)
        let key = plan.entries.keys.sorted()[0]
        plan.entries[key]!.margin = -0.96
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("invalid-\(UUID()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        XCTAssertThrowsError(try plan.write(path: path)) { error in
            XCTAssertTrue("\(error)".contains("entry \(key): margin -0.96 is outside [0, 1e+06]"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testInterleavedTimerRunsEachOperation() {
        var counts = [0, 0]
        let timings = InterleavedTimer.run([{ counts[0] += 1 }, { counts[1] += 1; usleep(200) }],
                                           policy: TimingPolicy(warmup: 1, minRepetitionSeconds: 0.002, repetitions: 3, capSeconds: 1))
        XCTAssertEqual(timings.count, 2)
        XCTAssertTrue(timings.allSatisfy { $0.samples.count == 3 })
        XCTAssertGreaterThan(timings[1].median, timings[0].median)
        XCTAssertGreaterThanOrEqual(counts[1], 1 + 3 * timings[1].iterations)
    }

    func testCostModelUsesEachAlgorithmsWork() throws {
        let p = ConvProblem.depthwise(try Problem(parsing: "n1c512h14w14k27s1p13"))
        let model = CostModel(peakGflops: 100, bandwidthGBs: 1000)
        // Direct SIMD computes only the useful taps, 27% of the direct FLOPs here.
        XCTAssertEqual(model.bound(DirectSIMD(width: 16), p), p.usefulFlops / 100e9, accuracy: 1e-12)
        XCTAssertEqual(model.bound(Im2colGEMM(), p), max(p.flops / 100e9, Im2colGEMM().workEstimate(p).bytes / 1000e9), accuracy: 1e-12)
        let calibrated = CostModel(peakGflops: 100, bandwidthGBs: 1000, efficiency: ["direct-simd.w16.nchw16c": 0.5])
        XCTAssertEqual(calibrated.predict(DirectSIMD(width: 16), p), 2 * model.bound(DirectSIMD(width: 16), p), accuracy: 1e-12)
    }

    func testPointwiseProblemsAreTunedAmongPointwiseAlgorithms() throws {
        let plan = try tinyPlan(problems: ["n1c40h7w7o70", "n1c8h8w8k3s1p1"])
        let pw = try XCTUnwrap(plan.entries["n1c40h7w7o70"])
        XCTAssertEqual(Set(pw.candidates.map(\.algorithm)), Set(Registry.pointwise.map(\.name)))
        XCTAssertTrue(pw.candidates.contains { $0.algorithm == "pointwise-naive" && $0.status == .refused })
        XCTAssertTrue(pw.algorithm.hasPrefix("gemm-"), pw.algorithm)
        let planner = Planner(plan: plan, planOnly: true)
        XCTAssertEqual(try planner.choose(try ConvProblem(parsing: "n1c40h7w7o70")).algorithm.name, pw.algorithm)
        // A problem of another kind than the plan's entries is not in the plan.
        XCTAssertThrowsError(try planner.choose(try ConvProblem(parsing: "n1c8h8w8o3")))
        let data = try plan.encoded()
        XCTAssertEqual(try Plan.decode(data, path: "p.json", registry: Registry.names), plan)
    }

    /// One planner, every caller's layout: the plan's choice as it is for callers that convert themselves; its
    /// fastest candidate in the caller's only layout; the cheapest once conversions are counted at the plan's
    /// bandwidth; never a dropped candidate's quick-round time; the heuristic, said so, where the plan cannot serve.
    func testPlannerLayoutPolicies() throws {
        let problem = try ConvProblem(parsing: "n1c32h8w8o64")
        func planner(_ candidates: [Plan.Candidate], chosen: String, bandwidth: Double = 1, planOnly: Bool = false) -> Planner {
            let entry = Plan.Entry(problem: "\(problem)", precision: .fp32, algorithm: chosen, mode: .measure, threads: 1, margin: 0.01,
                                   confident: false, candidates: candidates)
            let plan = Plan(generator: "test", created: "now", machine: MachineFingerprint.current(),
                            build: BuildSignature.current(registryNames: Registry.names), threads: 1,
                            calibration: Plan.Calibration(peak_gflops: 1, bandwidth_gbs: bandwidth, efficiency: [:], memory_efficiency: [:]),
                            entries: ["\(problem)": entry])
            return Planner(plan: plan, planOnly: planOnly)
        }
        // oneDNN works in NCHW, gemm-simd in NCHW16c; oneDNN measured 1% faster.
        let p = planner([Plan.Candidate(algorithm: "gemm-blas.onednn", median_ms: 1.0, spread: 0, status: .measured),
                         Plan.Candidate(algorithm: "gemm-simd.o64p6", median_ms: 1.01, spread: 0, status: .measured),
                         Plan.Candidate(algorithm: "gemm-simd.o48p8", median_ms: 0.2, spread: 0, status: .dropped)], chosen: "gemm-blas.onednn")
        let any = try p.choose(problem)
        XCTAssertEqual(any.algorithm.name, "gemm-blas.onednn")
        XCTAssertEqual(any.source, .plan(mode: .measure, margin: 0.01))
        XCTAssertEqual(any.conversions, [])
        let model = try p.choose(problem, layout: .only(.nchw16c))
        XCTAssertEqual(model.algorithm.name, "gemm-simd.o64p6", "the dropped candidate's quick-round time must not compete")
        XCTAssertTrue(model.sourceText.contains("nchw16c"), model.sourceText)
        XCTAssertEqual(model.conversions, [])
        // An NCHW caller: at 1 GB/s converting 2048 + 4096 floats each way costs ~0.05 ms, so oneDNN (no conversion) wins;
        // an NCHW16c caller converting to oneDNN's NCHW would pay it, so the plan's NCHW16c candidate wins.
        let nchw = try p.choose(problem, layout: .convertingFrom(.nchw, residual: false))
        XCTAssertEqual(nchw.algorithm.name, "gemm-blas.onednn")
        XCTAssertEqual(nchw.conversions, [])
        let blocked = try p.choose(problem, layout: .convertingFrom(.nchw16c, residual: true))
        XCTAssertEqual(blocked.algorithm.name, "gemm-simd.o64p6")
        // The plan's NCHW16c choice with an NCHW caller: three conversions (input, residual, output), costed.
        let q = planner([Plan.Candidate(algorithm: "gemm-simd.o64p6", median_ms: 1.0, spread: 0, status: .measured),
                         Plan.Candidate(algorithm: "gemm-blas.onednn", median_ms: 1.5, spread: 0, status: .measured)], chosen: "gemm-simd.o64p6", bandwidth: 100)
        let converted = try q.choose(problem, layout: .convertingFrom(.nchw, residual: true))
        XCTAssertEqual(converted.algorithm.name, "gemm-simd.o64p6")
        XCTAssertEqual(converted.conversions.map(\.tensor), ["input", "residual", "output"])
        XCTAssertTrue(converted.conversions.allSatisfy { ($0.estimatedSeconds ?? 0) > 0 })
        // No candidate in the only layout allowed: the heuristic, in that layout, and said so; an error with planOnly.
        let r = planner([Plan.Candidate(algorithm: "gemm-blas.onednn", median_ms: 1.0, spread: 0, status: .measured)], chosen: "gemm-blas.onednn")
        let fallback = try r.choose(problem, layout: .only(.nchw16c))
        XCTAssertEqual(fallback.algorithm.layout, .nchw16c)
        guard case .heuristic(.planUnusable) = fallback.source else { return XCTFail("\(fallback.source)") }
        XCTAssertThrowsError(try planner([Plan.Candidate(algorithm: "gemm-blas.onednn", median_ms: 1.0, spread: 0, status: .measured)],
                                         chosen: "gemm-blas.onednn", planOnly: true).choose(problem, layout: .only(.nchw16c)))
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
