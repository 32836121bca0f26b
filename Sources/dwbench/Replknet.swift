import ArgumentParser
import DWBench
import DWCore
import DWKernels
import DWModel
import DWTune
import Foundation

struct Replknet: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a RepLKNet forward pass (re-parameterized, plan-driven) and time it layer by layer.",
        discussion: """
        Without --checkpoint the net of --config gets seeded random weights (no download). --checkpoint takes \
        the file you downloaded or trained: a PyTorch .pth/.pt as torch.save writes it (read directly, in \
        Swift; nothing in it is executed) or a safetensors file, with the official RepLKNet-pytorch names, \
        in training form (lkb_origin + small_conv + BNs) or deployed (lkb_reparam). A training checkpoint's \
        state dict is taken from 'model', else 'state_dict', else the top level (choose with --model-key, \
        e.g. model_ema); a DistributedDataParallel 'module.' prefix is removed; F16, BF16 and F64 weights \
        are converted to float32. The architecture is inferred from the names and shapes.

        Input: --image FILE (JPEG or PNG, repeatable, one batch item each), preprocessed with the official \
        evaluation transform (resize the shorter side to R/0.875 bicubic as PIL does, center crop R, \
        ImageNet mean/std; a plain resize to R×R when R ≥ 384); or --input, a float32 .npy of shape \
        (N, 3, R, R); or seeded random. --save-input writes the preprocessed batch. Output: logits (N, \
        classes) .npy, written atomically; with 1000 classes the top-5 shows ImageNet class names.

        --plan FILE uses a tuning plan, tuning the model's problems into FILE first if it does not exist \
        yet (or, with --retune, again, overwriting it). Each layer's predicted time is the roofline max(performed FLOPs / peak, bytes / bandwidth) with the \
        peak and bandwidth measured at start (as 'dwbench machine').
        """)

    @Option(help: "31B, 31L or XL (ignored with --checkpoint, whose architecture is inferred).") var config: String = "31B"
    @Option(help: "A checkpoint in the official key layout: PyTorch .pth/.pt (torch.save) or safetensors.") var checkpoint: String?
    @Option(help: "Where the state dict is in a .pth: model, model_ema, state_dict, … ('a|b': the first present). Default: model, then state_dict, then the top level.")
    var modelKey: String?
    @Option(name: .customLong("image"), help: "A JPEG or PNG photo, preprocessed with the official evaluation transform at --resolution (repeatable: one batch item each).")
    var images: [String] = []
    @Option(help: "Input images, float32 .npy of shape (N, 3, R, R).") var input: String?
    @Option(help: "Write the preprocessed input batch (N, 3, R, R) as float32 .npy.") var saveInput: String?
    @Option(help: "Where to write the logits (N, classes) as float32 .npy.") var output: String?
    @Option(help: "Batch size N (without --input).") var batch: Int = 1
    @Option(help: "Resolution R, a multiple of 32 (without --input).") var resolution: Int = 224
    @Option(help: "A tuning plan; tuned and written first if the file does not exist.") var plan: String?
    @Flag(help: "With --plan: fail instead of falling back when the plan is foreign or lacks a problem.") var planOnly = false
    @Flag(help: "With --plan: tune again and overwrite the file, e.g. one that no longer reads or was tuned elsewhere.") var retune = false
    @Option(help: "How a missing --plan is tuned: measure, exhaustive or estimate.") var tuneMode: String = "measure"
    @Option(help: "Seconds of measuring for a missing --plan; the rest is estimated.") var tuneBudget: Double?
    @OptionGroup var threadOptions: ThreadOptions
    @Option(name: .customLong("repeat"), help: "Timed forward passes (after one warm-up).") var `repeat`: Int = 5
    @Option(help: "Output format.") var format: ReportFormat = .table
    @Option(help: "Seed of the random weights and input.") var seed: UInt64 = 2022
    @Option(help: "fp32; bf16: the 1×1 layers and the stem's GEMM may round to bf16 (fp32 accumulation) where the plan or heuristic picks it; auto: bf16 where the CPU has avx512_bf16.") var precision: String = "fp32"
    @Option(help: "Also write a Markdown page, JSON and an SVG plot named replknet-<config>[-bf16]-<T>t-b<N>.* into this directory.")
    var report: String?
    @Option(name: .customLong("peers"), help: "Whole-model peer JSON from Benchmarks/peers/run_replknet_peers.py, for --report (repeatable).")
    var peerFiles: [String] = []
    @Flag(help: "Time even in a debug build.") var allowDebug = false

    func validate() throws {
        guard RepLKNetConfig.named(config) != nil else { throw CLIError("--config must be 31B, 31L or XL, got '\(config)'") }
        guard (1...1024).contains(batch) else { throw CLIError("--batch must be in 1…1024, got \(batch)") }
        guard resolution >= 32, resolution <= 4096, resolution % 32 == 0 else {
            throw CLIError("--resolution must be a multiple of 32 in 32…4096, got \(resolution)")
        }
        guard Plan.Mode(rawValue: tuneMode) != nil else { throw CLIError("--tune-mode must be measure, exhaustive or estimate, got '\(tuneMode)'") }
        if let b = tuneBudget, b <= 0 { throw CLIError("--tune-budget must be positive") }
        guard (1...10_000).contains(`repeat`) else { throw ValidationError("--repeat must be in 1…10000") }
        if planOnly && plan == nil { throw ValidationError("--plan-only needs --plan") }
        if retune && plan == nil { throw ValidationError("--retune needs --plan") }
        if input != nil && !images.isEmpty { throw CLIError("--image and --input are alternatives; give one") }
        if modelKey != nil && checkpoint == nil { throw CLIError("--model-key needs --checkpoint") }
        if !images.isEmpty && images.count > 1024 { throw CLIError("at most 1024 --image files") }
    }

    /// Refuses a --batch × --resolution beyond this machine's memory, before the image or any buffer exists.
    /// (An --input image's own size is checked again when the model plans its buffers.)
    func requireMemory(_ cfg: RepLKNetConfig, batch: Int? = nil) throws {
        try cli { try RepLKNetModel.requireMemory(cfg, batch: batch ?? self.batch, resolution: resolution) }
    }

    func run() throws {
        try refuseDebugBuild(allowDebug)
        for file in [output, saveInput].compactMap({ $0 }) { try cli { try AtomicFile.requireDirectory(of: file) } }
        if let report { try cli { try AtomicFile.createDirectory(report) } }  // before the run, not after it
        let threads = threadOptions.threads
        let precision = try cli { try Precision.resolving(self.precision) }
        let setupStart = monotonicSeconds()
        // A preset's size is known before its weights are made: refuse an impossible run before allocating them.
        if checkpoint == nil { try requireMemory(RepLKNetConfig.named(config)!) }
        // Weights: checkpoint (architecture inferred) or seeded random for the preset.
        var net: DeployedRepLKNet
        let source: String
        do {
            if let checkpoint {
                let loaded = try Checkpoint.load(path: checkpoint, modelKey: modelKey)
                source = loaded.origin == Checkpoint.topLevel ? checkpoint : "\(checkpoint) [\(loaded.origin)]"
                net = try DeployedRepLKNet(loaded)
            } else {
                net = try DeployedRepLKNet(Checkpoint.random(RepLKNetConfig.named(config)!, seed: seed))
                source = "RepLKNet-\(config.uppercased()), seeded random weights (seed \(seed))"
            }
        } catch { throw CLIError(error) }
        let cfg = net.config
        // A checkpoint's architecture is known only now (a preset's was checked above).
        if checkpoint != nil { try requireMemory(cfg) }
        // Input.
        if !images.isEmpty { try requireMemory(cfg, batch: images.count) }
        let modelInput: ModelInput = try cli {
            if !images.isEmpty { return try ModelInput.photos(images, resolution: resolution, channels: cfg.inChannels) }
            if let input { return try ModelInput.array(try readNPY(input, role: "input"), name: input, channels: cfg.inChannels) }
            return ModelInput.random(batch: batch, resolution: resolution, channels: cfg.inChannels, seed: seed &+ 1)
        }
        let (image, n, r, inputNames) = (modelInput.values, modelInput.batch, modelInput.resolution, modelInput.names)
        if let saveInput {
            try cli { try NPYArray(shape: [n, cfg.inChannels, r, r], values: image).write(path: saveInput) }
        }
        // Measured after the input checks (bad input fails fast) and before the plans are prepared.
        let speed = MachineSpeed.measure(threads: threads)
        // Plan: open it, or tune the model's problems (at the run's precision) into it first.
        var planner = Planner.heuristic
        if let plan {
            let problems: [ConvProblem] = try cli { try cfg.problems(batch: n, resolution: r, precision: precision) }
            let progress = Progress(total: problems.count)
            let opened = try cli { try openOrTunePlan(path: plan, problems: problems, threads: threads, planOnly: planOnly, retune: retune, mode: Plan.Mode(rawValue: tuneMode)!,
                                                     budget: tuneBudget, speed: speed) { done, p in progress.update(done: done, label: "\(p)") } }
            progress.finish()
            planner = opened.planner
            for line in [opened.tuned, planner.warning.map { "warning: \($0)" }].compactMap({ $0 }) { FileHandle.standardError.write(Data("\(line)\n".utf8)) }
        }
        let model: RepLKNetModel
        let pool = ThreadPool(threads: threads)
        defer { pool.shutdown() }
        do {
            model = try RepLKNetModel(consume net, batch: n, resolution: r, executor: pool, precision: precision, planner: planner)
        } catch { throw CLIError(error) }
        let setupSeconds = monotonicSeconds() - setupStart
        let timing = ModelTiming.run(model, image: image, repetitions: `repeat`)
        if let output {
            try cli { try NPYArray(shape: [n, cfg.classes], values: timing.logits).write(path: output) }
        }
        let report = ModelReport(model: model, source: source, timing: timing, peak: speed.peaks(threads: threads),
                                 bandwidth: speed.bandwidthGBs(threads: threads), setupSeconds: setupSeconds, inputNames: inputNames)
        switch format {
        case .json: print(try jsonString(report.json()))
        default: print(report.table())
        }
        if let dir = self.report {
            var peers: [ModelReport.PeerRecord] = []
            for file in peerFiles {
                do { peers += try JSONDecoder().decode([ModelReport.PeerRecord].self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                    throw CLIError("\(file): not a run_replknet_peers.py JSON file")
                }
            }
            let base = "replknet-\(checkpoint == nil ? config.lowercased() : "checkpoint")\(precision == .bf16 ? "-bf16" : "")-\(threads)t-b\(n)"
            try cli { try report.writePages(directory: dir, base: base, peers: peers, command: CommandLine.arguments.joined(separator: " ")) }
            FileHandle.standardError.write(Data("wrote \(dir)/\(base).md, .json, .svg\n".utf8))
        }
        // Last, so that a failure above is still its one error line.
        warnAboutPeaks(report.peak)
    }
}
