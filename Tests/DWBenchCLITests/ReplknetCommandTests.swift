import DWCore
import DWKernels
import DWTune
import Foundation
import XCTest

/// `dwbench replknet` end to end on the PyTorch fixture, its plan-on-first-use, and its bad input.
final class ReplknetCommandTests: XCTestCase {
    let modelFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DWModelTests/Fixtures")

    func testRunsTheFixtureAndWritesLogits() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("logits.npy").path, plan = dir.appendingPathComponent("plan.json").path
        let result = try CLI.run(["replknet", "--checkpoint", modelFixtures.appendingPathComponent("tiny.safetensors").path,
                                  "--input", modelFixtures.appendingPathComponent("tiny-input.npy").path, "--output", out,
                                  "--plan", plan, "--tune-budget", "2", "--threads", "2", "--repeat", "2", "--format", "json", "--allow-debug"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("wrote \(plan)"), "the plan is tuned on first use: \(result.stderr)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: plan))
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(try XCTUnwrap(json["median_ms"] as? Double), 0)
        let layers = try XCTUnwrap(json["layers"] as? [[String: Any]])
        XCTAssertTrue(layers.contains { ($0["op"] as? String) == "depthwise" && ($0["choice"] as? String ?? "").hasPrefix("plan") })
        XCTAssertEqual((json["top5"] as? [[Any]])?.count, 2)
        XCTAssertEqual(json["schema_version"] as? Int, 1)
        let report = dir.appendingPathComponent("report.json").path
        try Data(result.stdout.utf8).write(to: URL(fileURLWithPath: report))
        let valid = try CLI.validateJSON("model-report", report)
        XCTAssertEqual(valid.status, 0, "the model report fails its schema: \(valid.stderr)")
        let logits = try NPYArray.read(path: out), expected = try NPYArray.read(path: modelFixtures.appendingPathComponent("logits-tiny-safetensors.npy").path)
        XCTAssertEqual(logits.shape, [2, 10])
        let diff = zip(logits.values, expected.values).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 1e-4 * expected.values.map(abs).max()!)
        // Second run, another process: the plan now exists and is used as is, and the logits are the same bits.
        let out2 = dir.appendingPathComponent("logits-again.npy").path
        let again = try CLI.run(["replknet", "--checkpoint", modelFixtures.appendingPathComponent("tiny.safetensors").path,
                                 "--input", modelFixtures.appendingPathComponent("tiny-input.npy").path, "--output", out2,
                                 "--plan", plan, "--threads", "2", "--repeat", "1", "--allow-debug"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertFalse(again.stderr.contains("wrote"), again.stderr)
        XCTAssertEqual(FileManager.default.contents(atPath: out2), FileManager.default.contents(atPath: out), "same plan, same threads: logits differ between runs")
        XCTAssertTrue(again.stdout.contains("top-5") && again.stdout.contains("depthwise layers:"), again.stdout)
    }

    /// A plan file that exists but does not read (here the negative margin a busy machine once made the tuner
    /// write) is not a dead end: the error names the file and the way out, and --retune tunes again over it.
    func testAnUnreadablePlanSaysHowToRetune() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let plan = dir.appendingPathComponent("plan.json").path
        let run = ["replknet", "--checkpoint", modelFixtures.appendingPathComponent("tiny.safetensors").path,
                   "--input", modelFixtures.appendingPathComponent("tiny-input.npy").path, "--plan", plan, "--tune-mode", "estimate",
                   "--threads", "1", "--repeat", "1", "--allow-debug"]
        let first = try CLI.run(run)
        XCTAssertEqual(first.status, 0, first.stderr)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: plan))) as? [String: Any])
        var entries = try XCTUnwrap(object["entries"] as? [String: [String: Any]])
        let key = try XCTUnwrap(entries.keys.sorted().first)
        entries[key]!["margin"] = -0.96
        object["entries"] = entries
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: plan))
        let broken = try CLI.run(run)
        XCTAssertEqual(broken.status, 1, broken.stderr)
        for fragment in [plan, "entry \(key): margin -0.96", "delete \(plan) or pass --retune to tune it again"] {
            XCTAssertTrue(broken.stderr.contains(fragment), "'\(fragment)' not in: \(broken.stderr)")
        }
        let retuned = try CLI.run(run + ["--retune"])
        XCTAssertEqual(retuned.status, 0, retuned.stderr)
        XCTAssertTrue(retuned.stderr.contains("wrote \(plan)"), retuned.stderr)
        XCTAssertNoThrow(try Plan.load(path: plan, registry: Registry.names))
        XCTAssertEqual(try CLI.run(run).status, 0, "the re-tuned plan is used as it is")
        let lone = try CLI.run(["replknet", "--retune", "--allow-debug"])
        XCTAssertNotEqual(lone.status, 0)
        XCTAssertTrue(lone.stderr.contains("--retune needs --plan"), lone.stderr)
    }

    /// What a user downloads and has: the official training checkpoint (its EMA weights on request) and photos.
    func testTrainingCheckpointAndPhotos() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("logits.npy").path, saved = dir.appendingPathComponent("input.npy").path
        let ema = try CLI.run(["replknet", "--checkpoint", modelFixtures.appendingPathComponent("tiny-train.pth").path, "--model-key", "model_ema",
                               "--input", modelFixtures.appendingPathComponent("tiny-input.npy").path, "--output", out, "--repeat", "1", "--allow-debug"])
        XCTAssertEqual(ema.status, 0, ema.stderr)
        XCTAssertTrue(ema.stdout.contains("tiny-train.pth ['model_ema']"), ema.stdout)
        try assertClose(out, modelFixtures.appendingPathComponent("logits-tiny-train-pth-ema.npy").path)
        let photos = ["photos/rocket.jpg", "photos/chelsea.png"].map { modelFixtures.appendingPathComponent($0).path }
        let run = try CLI.run(["replknet", "--checkpoint", modelFixtures.appendingPathComponent("tiny-state.pth").path,
                               "--image", photos[0], "--image", photos[1], "--resolution", "64", "--save-input", saved,
                               "--output", out, "--repeat", "1", "--allow-debug"])
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("image 0 (\(photos[0]))") && run.stdout.contains("image 1 (\(photos[1]))"), run.stdout)
        XCTAssertTrue(run.stdout.contains("top-5 per image, as class index: logit"), run.stdout)
        try assertClose(out, modelFixtures.appendingPathComponent("photos/logits-photos-64.npy").path)
        let input = try NPYArray.read(path: saved)
        XCTAssertEqual(input.shape, [2, 3, 64, 64])
        let rocket = try NPYArray.read(path: modelFixtures.appendingPathComponent("photos/expected-rocket-jpg-64.npy").path)
        // --save-input holds the batch PIL makes (identical here; JPEG decoding may differ by a level elsewhere).
        let diffs = zip(input.values.prefix(rocket.values.count), rocket.values).map { abs($0 - $1) }
        XCTAssertLessThanOrEqual(diffs.reduce(0, +) / Float(diffs.count), 0.01)
    }

    /// `dwbench checkpoint` says where the state dict is, what was skipped or left uncalled, and the architecture.
    func testCheckpointCommand() throws {
        let train = modelFixtures.appendingPathComponent("tiny-train.pth").path
        let table = try CLI.run(["checkpoint", train])
        XCTAssertEqual(table.status, 0, table.stderr)
        for fragment in ["PyTorch ZIP (torch.save)", "state dict: 'model'", "num_batches_tracked", "argparse.Namespace",
                         "architecture: RepLKNet", "channels [8, 16, 24, 32]", "in place"] {
            XCTAssertTrue(table.stdout.contains(fragment), "'\(fragment)' not in: \(table.stdout)")
        }
        let json = try CLI.run(["checkpoint", modelFixtures.appendingPathComponent("tiny-bf16.safetensors").path, "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        let s = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(s["format"] as? String, "safetensors")
        XCTAssertEqual((s["dtypes"] as? [String: Int])?["BF16"], s["tensors"] as? Int, "every weight is BF16")
        XCTAssertEqual(s["zero_copy_tensors"] as? Int, 0, "BF16 is converted, not used in place")
        XCTAssertNotNil(s["architecture"] as? String)
        let bad = try CLI.run(["checkpoint", modelFixtures.appendingPathComponent("tiny-input.npy").path])
        XCTAssertEqual(bad.status, 1)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        XCTAssertTrue(bad.stderr.contains("not a safetensors file"), bad.stderr)
    }

    func assertClose(_ file: String, _ reference: String, line: UInt = #line) throws {
        let a = try NPYArray.read(path: file), b = try NPYArray.read(path: reference)
        XCTAssertEqual(a.shape, b.shape, line: line)
        let diff = zip(a.values, b.values).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(diff, 1e-4 * b.values.map(abs).max()!, line: line)
    }

    func testBadInputFailsCleanly() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("y.npy").path
        let truncated = dir.appendingPathComponent("t.safetensors")
        try Data(try Data(contentsOf: modelFixtures.appendingPathComponent("tiny.safetensors")).prefix(1000)).write(to: truncated)
        let truncatedPth = dir.appendingPathComponent("t.pth")
        try Data(try Data(contentsOf: modelFixtures.appendingPathComponent("tiny-train.pth")).prefix(300_000)).write(to: truncatedPth)
        let corruptJPEG = dir.appendingPathComponent("cut.jpg")
        try Data(try Data(contentsOf: modelFixtures.appendingPathComponent("photos/rocket.jpg")).prefix(20_000)).write(to: corruptJPEG)
        let badInput = dir.appendingPathComponent("x.npy").path
        try NPYArray(shape: [1, 3, 60, 60], values: [Float](repeating: 0, count: 3 * 3600)).write(path: badInput)
        let cases: [([String], String)] = [
            (["--checkpoint", truncated.path], "runs past the end"),
            (["--checkpoint", truncatedPth.path], "truncated"),
            (["--checkpoint", modelFixtures.appendingPathComponent("tiny-train.pth").path, "--model-key", "ema"], "no entry 'ema'"),
            (["--checkpoint", modelFixtures.appendingPathComponent("tiny-state.pth").path, "--image", corruptJPEG.path], "corrupt JPEG"),
            (["--checkpoint", modelFixtures.appendingPathComponent("tiny-state.pth").path, "--image", modelFixtures.appendingPathComponent("tiny-input.npy").path], "not a JPEG or PNG"),
            (["--image", corruptJPEG.path, "--input", badInput], "alternatives"),
            (["--checkpoint", dir.appendingPathComponent("missing.safetensors").path], "cannot read file"),
            (["--checkpoint", modelFixtures.appendingPathComponent("tiny.safetensors").path, "--input", badInput], "must have shape (N, 3, R, R)"),
            (["--config", "31Q"], "--config"),
            (["--resolution", "100"], "--resolution"),
        ]
        for (args, fragment) in cases {
            let r = try CLI.run(["replknet", "--output", out, "--repeat", "1", "--allow-debug"] + args)
            XCTAssertNotEqual(r.status, 0, "\(args)")
            XCTAssertTrue(r.stderr.contains(fragment), "\(args): \(r.stderr)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no output after \(args)")
        }
    }
}
