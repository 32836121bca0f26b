import DWBF16
import Foundation

/// What this machine is: CPU model, ISA features, cores, NUMA nodes and caches, read from
/// `/proc/cpuinfo`, `/sys` and libnuma. Plans, gate baselines and bench records are signed with it.
public struct MachineFingerprint: Codable, Sendable, Equatable {
    public struct Cache: Codable, Sendable, Equatable {
        public var level: Int
        public var type: String
        public var bytes: Int
        /// Number of logical CPUs that share it.
        public var sharedBy: Int

        /// "L1d", "L1i", "L2", "L3".
        public var label: String { "L\(level)" + (type == "Data" ? "d" : type == "Instruction" ? "i" : "") }
    }

    public var cpuModel: String
    /// ISA extensions relevant to fp32 kernels, in a fixed order.
    public var features: [String]
    public var cores: Int
    public var numaNodes: Int
    public var caches: [Cache]
    /// CPUID identity (vendor, family, model, stepping), which VMs pass through even when the brand string
    /// is only "AMD EPYC": it tells CPU generations apart. Absent in plans written before it was recorded.
    public var vendor: String?
    public var family: Int?
    public var model: Int?
    public var stepping: Int?

    public init(cpuModel: String, features: [String], cores: Int, numaNodes: Int, caches: [Cache],
                vendor: String? = nil, family: Int? = nil, model: Int? = nil, stepping: Int? = nil) {
        self.cpuModel = cpuModel
        self.features = features
        self.cores = cores
        self.numaNodes = numaNodes
        self.caches = caches
        self.vendor = vendor
        self.family = family
        self.model = model
        self.stepping = stepping
    }

    /// What differs between this fingerprint (a plan's, "there") and `other` ("here"), one phrase per field,
    /// e.g. "L1d 48 KiB there, 32 KiB here"; empty when they describe the same machine. A field one side does
    /// not record (an older plan's CPUID identity) is not a difference.
    public func differences(from other: MachineFingerprint) -> [String] {
        var out: [String] = []
        func compare<T: Equatable>(_ name: String, _ a: T?, _ b: T?, _ text: (T) -> String) {
            if let a, let b, a != b { out.append("\(name) \(text(a)) there, \(text(b)) here") }
        }
        compare("CPU", cpuModel, other.cpuModel) { "'\($0)'" }
        compare("vendor", vendor, other.vendor) { $0 }
        compare("family", family, other.family) { "\($0)" }
        compare("model", model, other.model) { "\($0)" }
        compare("stepping", stepping, other.stepping) { "\($0)" }
        compare("cores", cores, other.cores) { "\($0)" }
        compare("NUMA nodes", numaNodes, other.numaNodes) { "\($0)" }
        if features != other.features {
            let missing = features.filter { !other.features.contains($0) }, extra = other.features.filter { !features.contains($0) }
            out.append("features" + (missing.isEmpty ? "" : " \(missing.joined(separator: " ")) there only") + (extra.isEmpty ? "" : " \(extra.joined(separator: " ")) here only"))
        }
        for cache in Set(caches.map(\.label) + other.caches.map(\.label)).sorted() {
            let a = caches.first { $0.label == cache }, b = other.caches.first { $0.label == cache }
            compare(cache, a.map(\.bytes), b.map(\.bytes)) { MachineFingerprint.sizeText($0) }
            compare("\(cache) sharing", a.map(\.sharedBy), b.map(\.sharedBy)) { "by \($0)" }
        }
        return out
    }

    /// "48 KiB", "1 MiB" (KiB unless a whole number of MiB).
    public static func sizeText(_ bytes: Int) -> String {
        bytes >= 1 << 20 && bytes % (1 << 20) == 0 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }

    /// The feature flags this project cares about, in report order.
    public static let interestingFeatures = ["sse4_2", "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512bw",
                                             "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile"]

    public var hasAVX512: Bool { features.contains("avx512f") }
    public var hasAVX2: Bool { features.contains("avx2") && features.contains("fma") }

    /// Reads the fingerprint of the running machine.
    public static func current() -> MachineFingerprint {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        var model = "unknown"
        var flags = Set<String>()
        var identity: [String: String] = [:]
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "model name", model == "unknown" { model = parts[1] }
            if parts[0] == "flags", flags.isEmpty { flags = Set(parts[1].split(separator: " ").map(String.init)) }
            if ["vendor_id", "cpu family", "model", "stepping"].contains(parts[0]), identity[parts[0]] == nil { identity[parts[0]] = parts[1] }
        }
        var caches: [Cache] = []
        for index in 0..<8 {
            let dir = "/sys/devices/system/cpu/cpu0/cache/index\(index)"
            func read(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(dir)/\(name)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let level = read("level").flatMap(Int.init), let type = read("type"), let size = read("size") else { continue }
            let shared = read("shared_cpu_list").map(MachineFingerprint.countCPUs) ?? 1
            caches.append(Cache(level: level, type: type, bytes: MachineFingerprint.parseSize(size), sharedBy: shared))
        }
        return MachineFingerprint(cpuModel: model,
                                  features: interestingFeatures.filter { flags.contains($0) },
                                  cores: ProcessInfo.processInfo.activeProcessorCount,
                                  numaNodes: NUMA.nodeCount,
                                  caches: caches,
                                  vendor: identity["vendor_id"], family: identity["cpu family"].flatMap { Int($0) },
                                  model: identity["model"].flatMap { Int($0) }, stepping: identity["stepping"].flatMap { Int($0) })
    }

    /// "48K" → 49152; "1024K" → 1048576; "32M" → 33554432.
    static func parseSize(_ text: String) -> Int {
        let digits = Int(text.prefix(while: { $0.isNumber })) ?? 0
        switch text.last {
        case "K": return digits << 10
        case "M": return digits << 20
        case "G": return digits << 30
        default: return digits
        }
    }

    /// Counts CPUs in a list such as "0-3,8".
    static func countCPUs(_ list: String) -> Int {
        list.split(separator: ",").reduce(0) { total, part in
            let ends = part.split(separator: "-").compactMap { Int($0) }
            return total + (ends.count == 2 ? ends[1] - ends[0] + 1 : 1)
        }
    }

    /// Data/unified cache size at `level`, if known.
    public func cacheBytes(level: Int) -> Int? {
        caches.first { $0.level == level && $0.type != "Instruction" }?.bytes
    }
}

/// One measurement of an arithmetic peak: the best of its repetitions (interference only ever slows a
/// repetition down, so the best is the least disturbed), how much the repetitions vary, and how much of
/// their time the measuring threads were on a CPU.
public struct PeakSample: Sendable, Equatable {
    /// GFLOP/s of the fastest repetition.
    public var gflops: Double
    /// (best − median) / best of the repetitions' rates: near 0 on a quiet machine; a median repetition
    /// more than 10% below the best (`PeakChoice.busySpread`) means other work took the cores.
    public var spread: Double
    /// In the fastest repetition, the CPU time its threads got over the time they had (threads × wall time):
    /// about 1 when they had their cores to themselves; other work sharing the cores evenly lowers it (and
    /// the figure) without making repetitions vary.
    public var cpuShare: Double

    public init(gflops: Double, spread: Double, cpuShare: Double = 1) {
        self.gflops = gflops
        self.spread = spread
        self.cpuShare = cpuShare
    }

    /// From the GFLOP/s of each repetition and the CPU share of each (nil: not measured, taken as 1).
    public init(repetitions rates: [Double], cpuShares: [Double]? = nil) {
        let best = rates.indices.max { rates[$0] < rates[$1] }
        let gflops = best.map { rates[$0] } ?? 0
        self.init(gflops: gflops, spread: gflops > 0 ? (gflops - median(rates)) / gflops : 0,
                  cpuShare: best.flatMap { cpuShares?[$0] } ?? 1)
    }
}

/// The peak a share of peak divides by at some thread count, chosen from the one-thread and the many-thread
/// measurements, with a note for the reader when they look disturbed. A pure function of the samples.
///
/// The rule: a `threads`-thread peak is plausible between the one-thread peak (more threads cannot do less
/// arithmetic per second than one of them alone) and `threads` × it (plus 10% of measurement noise: cores do
/// not scale better than linearly). Inside that range the measured figure is used; outside it, the
/// measurement was disturbed (other work held some of the cores for part of it) and `threads` × the one-thread
/// figure is used instead: the one-thread measurement needs only one free core, so it is the sturdier of the
/// two, and ideal scaling is what the cores deliver when they are not shared (on SMT siblings, which share
/// their FMA units, it overstates). Either way, repetitions whose median is more than 10% below their best,
/// or a fastest repetition whose threads were on a CPU less than 90% of its time, mark a busy machine, and
/// the note says so and which figure was used.
public struct PeakChoice: Sendable, Equatable {
    /// The figure used, GFLOP/s.
    public var gflops: Double
    /// nil when the measurement looks sound; otherwise what was measured, why it is doubted, and the figure used.
    public var note: String?

    /// Repetitions varying more than this (`PeakSample.spread`) mark a busy machine.
    public static let busySpread = 0.10
    /// So do threads on a CPU for less than this share of the fastest repetition (`PeakSample.cpuShare`).
    public static let busyCPUShare = 0.90

    /// The choice for the peak of `arithmetic` ("fp32 FMA peak", "bf16 dot-product peak" in the note).
    public static func choose(_ arithmetic: Precision, threads: Int, one: PeakSample, many: PeakSample?) -> PeakChoice {
        choose(arithmetic == .fp32 ? "fp32 FMA peak" : "bf16 dot-product peak", threads: threads, one: one, many: many)
    }

    /// `what` names the peak ("fp32 FMA peak"); `many` is the `threads`-thread sample (nil for one thread).
    public static func choose(_ what: String, threads: Int, one: PeakSample, many: PeakSample?) -> PeakChoice {
        func gf(_ x: Double) -> String { String(format: "%.1f GFLOP/s", x) }
        // Whole percents rounded away from the threshold, so that a spread just over 10% never reads "10%".
        func percent(_ x: Double, _ round: (Double) -> Double) -> String { "\(Int(round(x * 100)))%" }
        func busy(_ s: PeakSample, _ t: Int) -> [String] {
            (s.spread > busySpread ? ["the \(t)-thread repetitions vary by \(percent(s.spread) { ($0 - 1e-9).rounded(.up) })"] : [])
                + (s.cpuShare < busyCPUShare ? ["the \(t)-thread run was on a CPU \(percent(s.cpuShare) { ($0 + 1e-9).rounded(.down) }) of the time"] : [])
        }
        guard threads > 1, let many else {
            let doubts = busy(one, 1)
            guard !doubts.isEmpty else { return PeakChoice(gflops: one.gflops, note: nil) }
            return PeakChoice(gflops: one.gflops, note: "\(what): \(doubts.joined(separator: "; ")) (a busy machine); using the best repetition, \(gf(one.gflops))")
        }
        let ideal = Double(threads) * one.gflops
        var doubts: [String] = []
        if many.gflops < one.gflops {
            doubts.append("\(threads) threads measured \(gf(many.gflops)), below 1 thread's \(gf(one.gflops))")
        } else if many.gflops > ideal * (1 + busySpread) {
            doubts.append("\(threads) threads measured \(gf(many.gflops)), above \(threads) × 1 thread's \(gf(one.gflops))")
        }
        let implausible = !doubts.isEmpty
        doubts += busy(one, 1) + busy(many, threads)
        let used = implausible ? ideal : many.gflops
        guard !doubts.isEmpty else { return PeakChoice(gflops: used, note: nil) }
        let which = implausible ? "\(threads) × the 1-thread figure, \(gf(used))" : "the best \(threads)-thread repetition, \(gf(used))"
        return PeakChoice(gflops: used, note: "\(what) at \(threads) threads: \(doubts.joined(separator: "; ")) (a busy machine); using \(which)")
    }
}

/// The arithmetic peaks a share of peak is taken of: fp32 FMA and, where the CPU has it, bf16 dot products.
public struct Peaks: Sendable, Equatable {
    public var fp32: Double
    public var bf16: Double?
    /// What a reader of a share of these peaks should know: one line per peak whose measurement looks
    /// disturbed (`PeakChoice`), naming the figure used. Empty on a quiet machine.
    public var notes: [String]
    public init(fp32: Double, bf16: Double? = nil, notes: [String] = []) {
        self.fp32 = fp32
        self.bf16 = bf16
        self.notes = notes
    }

    /// The peak for an algorithm multiplying in `arithmetic` (nil: bf16 on a CPU without it).
    public func gflops(for arithmetic: Precision) -> Double? { arithmetic == .fp32 ? fp32 : bf16 }

    /// The peak a roofline prediction divides by: `gflops(for:)`, or for bf16 where none was measured, twice the
    /// fp32 peak (two products per lane per instruction).
    public func roofline(for arithmetic: Precision) -> Double { gflops(for: arithmetic) ?? 2 * fp32 }

    /// The chosen (`PeakChoice`) fp32 and bf16 peaks, with the notes of both.
    init(fp32: PeakChoice, bf16: PeakChoice?) {
        self.init(fp32: fp32.gflops, bf16: bf16?.gflops, notes: [fp32.note, bf16?.note].compactMap { $0 })
    }

    /// Measured now for `threads` threads (and for one thread, the plausibility check's reference); the bf16
    /// peak only when `bf16` is asked for and the CPU has it.
    public static func measure(threads: Int, bf16: Bool) -> Peaks {
        func choose(_ arithmetic: Precision, _ sample: (Int) -> PeakSample) -> PeakChoice {
            PeakChoice.choose(arithmetic, threads: threads, one: sample(1), many: threads > 1 ? sample(threads) : nil)
        }
        return Peaks(fp32: choose(.fp32, MachineSpeed.fp32PeakSample),
                     bf16: bf16 && BF16.native ? choose(.bf16) { MachineSpeed.bf16PeakSample(threads: $0)! } : nil)
    }
}

/// Measured speed of this machine: fp32 FMA peak and streaming bandwidth, from short micro-benchmarks
/// compiled with the same native vector settings as the kernels. These calibrate "% of peak" and
/// roofline predictions. Each figure is the best of several short repetitions (peaks are maxima); the
/// peaks also keep their repetitions' spread, and the peak used at a thread count is `peaks(threads:)`'s
/// choice (`PeakChoice`), which falls back when the measurement is implausible.
public struct MachineSpeed: Codable, Sendable, Equatable {
    /// fp32 GFLOP/s of one core running independent `SIMD16<Float>` FMAs (2 FLOP per lane).
    public var peakGflopsOneCore: Double
    /// The same with every core busy (one stream per thread), as measured.
    public var peakGflopsAllCores: Double
    /// Triad (a = b + s·c) bandwidth of one core on arrays far larger than the caches, GB/s.
    public var bandwidthGBsOneCore: Double
    /// The same with every core streaming its own part.
    public var bandwidthGBsAllCores: Double
    /// bf16 dot-product GFLOP/s of one core (independent zmm `vdpbf16ps`, 64 FLOP each); nil where the CPU has
    /// no avx512_bf16.
    public var bf16PeakGflopsOneCore: Double?
    /// The same with every core busy.
    public var bf16PeakGflopsAllCores: Double?
    /// The threads the "AllCores" figures ran on (absent in files written before it was recorded: the
    /// default thread count).
    public var allCoresThreads: Int?
    /// `PeakSample.spread` and `.cpuShare` of each peak (absent in files written before they were recorded).
    public var peakSpreadOneCore: Double?
    public var peakSpreadAllCores: Double?
    public var bf16PeakSpreadOneCore: Double?
    public var bf16PeakSpreadAllCores: Double?
    public var peakCPUShareOneCore: Double?
    public var peakCPUShareAllCores: Double?
    public var bf16PeakCPUShareOneCore: Double?
    public var bf16PeakCPUShareAllCores: Double?

    public init(fp32: (one: PeakSample, all: PeakSample), bf16: (one: PeakSample, all: PeakSample)?,
                bandwidthGBsOneCore: Double, bandwidthGBsAllCores: Double, allCoresThreads: Int) {
        (peakGflopsOneCore, peakSpreadOneCore, peakCPUShareOneCore) = (fp32.one.gflops, fp32.one.spread, fp32.one.cpuShare)
        (peakGflopsAllCores, peakSpreadAllCores, peakCPUShareAllCores) = (fp32.all.gflops, fp32.all.spread, fp32.all.cpuShare)
        (bf16PeakGflopsOneCore, bf16PeakSpreadOneCore, bf16PeakCPUShareOneCore) = (bf16?.one.gflops, bf16?.one.spread, bf16?.one.cpuShare)
        (bf16PeakGflopsAllCores, bf16PeakSpreadAllCores, bf16PeakCPUShareAllCores) = (bf16?.all.gflops, bf16?.all.spread, bf16?.all.cpuShare)
        self.bandwidthGBsOneCore = bandwidthGBsOneCore
        self.bandwidthGBsAllCores = bandwidthGBsAllCores
        self.allCoresThreads = allCoresThreads
    }

    /// Runs the micro-benchmarks (about 0.5–1 s in all).
    public static func measure(threads: Int = ThreadPool.defaultThreads) -> MachineSpeed {
        ThreadPool.with(threads: threads) { pool in
            let fp32 = (one: peak(pool: pool, workers: 1), all: peak(pool: pool, workers: threads))
            let bw1 = bandwidth(pool: pool, workers: 1)
            let bwAll = bandwidth(pool: pool, workers: threads)
            let bf16 = BF16.native ? (one: bf16Peak(pool: pool, workers: 1), all: bf16Peak(pool: pool, workers: threads)) : nil
            return MachineSpeed(fp32: fp32, bf16: bf16, bandwidthGBsOneCore: bw1, bandwidthGBsAllCores: bwAll, allCoresThreads: threads)
        }
    }

    var measuredThreads: Int { allCoresThreads ?? ThreadPool.defaultThreads }

    /// The stored samples of one arithmetic at one thread count, or one measured now for a thread count
    /// between (nil: bf16 without avx512_bf16).
    func sample(_ arithmetic: Precision, threads: Int) -> PeakSample? {
        func stored(_ gflops: Double, _ spread: Double?, _ share: Double?) -> PeakSample {
            PeakSample(gflops: gflops, spread: spread ?? 0, cpuShare: share ?? 1)
        }
        switch arithmetic {
        case .fp32:
            if threads == 1 { return stored(peakGflopsOneCore, peakSpreadOneCore, peakCPUShareOneCore) }
            if threads == measuredThreads { return stored(peakGflopsAllCores, peakSpreadAllCores, peakCPUShareAllCores) }
            return MachineSpeed.fp32PeakSample(threads: threads)
        case .bf16:
            guard let one = bf16PeakGflopsOneCore, let all = bf16PeakGflopsAllCores else { return nil }
            if threads == 1 { return stored(one, bf16PeakSpreadOneCore, bf16PeakCPUShareOneCore) }
            if threads == measuredThreads { return stored(all, bf16PeakSpreadAllCores, bf16PeakCPUShareAllCores) }
            return MachineSpeed.bf16PeakSample(threads: threads)
        }
    }

    /// The peak an algorithm multiplying in `arithmetic` is measured against at `threads` threads, as
    /// `PeakChoice` chooses it from the one-thread and `threads`-thread samples: the fp32 FMA peak, or the
    /// bf16 dot-product peak (nil when the CPU has none).
    public func peakChoice(threads: Int, arithmetic: Precision) -> PeakChoice? {
        guard let one = sample(arithmetic, threads: 1) else { return nil }
        return PeakChoice.choose(arithmetic, threads: threads, one: one, many: threads > 1 ? sample(arithmetic, threads: threads) : nil)
    }

    /// `peakChoice(threads:arithmetic:)`'s figure.
    public func peakGflops(threads: Int, arithmetic: Precision) -> Double? { peakChoice(threads: threads, arithmetic: arithmetic)?.gflops }

    /// Both peaks that apply to `threads` threads (the denominators of "% of peak" and of the roofline), with
    /// the notes of any doubtful measurement.
    public func peaks(threads: Int) -> Peaks {
        Peaks(fp32: peakChoice(threads: threads, arithmetic: .fp32)!, bf16: peakChoice(threads: threads, arithmetic: .bf16))
    }

    /// The fp32 peak that applies to `threads` threads (`peaks(threads:)`).
    public func peakGflops(threads: Int) -> Double { peakGflops(threads: threads, arithmetic: .fp32)! }

    /// The measured triad bandwidth that applies to `threads` threads: one core's, all cores' (what was
    /// measured with every worker busy), or measured anew for a thread count between.
    public func bandwidthGBs(threads: Int) -> Double {
        threads == 1 ? bandwidthGBsOneCore : threads == measuredThreads ? bandwidthGBsAllCores : MachineSpeed.bandwidthGBs(threads: threads)
    }

    /// FMA peak of `threads` threads running at once, measured now.
    public static func fp32PeakSample(threads: Int) -> PeakSample {
        ThreadPool.with(threads: threads) { peak(pool: $0, workers: threads) }
    }

    /// bf16 dot-product peak of `threads` threads, measured now (nil without avx512_bf16).
    public static func bf16PeakSample(threads: Int) -> PeakSample? {
        BF16.native ? ThreadPool.with(threads: threads) { bf16Peak(pool: $0, workers: threads) } : nil
    }

    /// Triad bandwidth at `threads` threads, GB/s.
    public static func bandwidthGBs(threads: Int) -> Double {
        ThreadPool.with(threads: threads) { bandwidth(pool: $0, workers: threads) }
    }

    /// Ten repetitions of `flopsPerWorker` FLOPs of `body` on each of `workers` threads: their rates, and the
    /// CPU time the threads got in each.
    static func peakSample(pool: ThreadPool, workers: Int, flopsPerWorker: Double, _ body: @escaping () -> Void) -> PeakSample {
        let cpu = UnsafeMutablePointer<Double>.allocate(capacity: workers)
        defer { cpu.deallocate() }
        let seconds = SendableMutablePointer(cpu)
        var rates: [Double] = [], shares: [Double] = []
        for _ in 0..<10 {
            let t0 = monotonicSeconds()
            pool.parallelFor(count: workers) { task, _ in
                let c0 = threadCPUSeconds()
                body()
                seconds.pointer[task] = threadCPUSeconds() - c0
            }
            let wall = monotonicSeconds() - t0
            rates.append(Double(workers) * flopsPerWorker / wall / 1e9)
            shares.append((0..<workers).reduce(0.0) { $0 + cpu[$1] } / (Double(workers) * wall))
        }
        return PeakSample(repetitions: rates, cpuShares: shares)
    }

    static func bf16Peak(pool: ThreadPool, workers: Int) -> PeakSample {
        let iterations = 1_000_000
        // 24 independent vdpbf16ps × 16 lanes × 2 products × 2 FLOP per iteration.
        return peakSample(pool: pool, workers: workers, flopsPerWorker: Double(iterations) * 24 * 64) {
            blackHole(dw_bf16_peak_probe(iterations))
        }
    }

    static func peak(pool: ThreadPool, workers: Int) -> PeakSample {
        // ~20 ms per repetition; the best of 10 filters out interference from other work.
        let iterations = 10_000_000
        // 16 accumulators × 16 lanes × 2 FLOP per iteration.
        return peakSample(pool: pool, workers: workers, flopsPerWorker: Double(iterations) * 16 * 16 * 2) {
            blackHole(fmaThroughputLoop(iterations: iterations, seed: 1.0))
        }
    }

    static func bandwidth(pool: ThreadPool, workers: Int) -> Double {
        let perWorker = 8 << 20 // 8 Mi floats = 32 MiB per array per worker, past any L3 share
        let a = AlignedBuffer(count: perWorker * workers)
        let b = AlignedBuffer(count: perWorker * workers)
        let c = AlignedBuffer(count: perWorker * workers)
        pool.parallelFor(count: workers) { t, _ in
            for i in 0..<perWorker { b.pointer[t * perWorker + i] = 1; c.pointer[t * perWorker + i] = 2 }
        }
        var best = 0.0
        for _ in 0..<4 {
            let t0 = monotonicSeconds()
            pool.parallelFor(count: workers) { t, _ in
                triad(a.pointer + t * perWorker, b.pointer + t * perWorker, c.pointer + t * perWorker, count: perWorker)
            }
            let dt = monotonicSeconds() - t0
            best = Swift.max(best, 3.0 * 4.0 * Double(perWorker * workers) / dt / 1e9)
        }
        return best
    }
}

/// 16 independent FMA chains on `SIMD16<Float>`: enough to cover FMA latency × units on current x86.
@inline(never)
public func fmaThroughputLoop(iterations: Int, seed: Float) -> Float {
    let x = SIMD16<Float>(repeating: 0.999_999)
    let y = SIMD16<Float>(repeating: seed * 1e-7)
    var a0 = y, a1 = y, a2 = y, a3 = y, a4 = y, a5 = y, a6 = y, a7 = y
    var a8 = y, a9 = y, a10 = y, a11 = y, a12 = y, a13 = y, a14 = y, a15 = y
    for _ in 0..<iterations {
        a0.addProduct(a0, x); a1.addProduct(a1, x); a2.addProduct(a2, x); a3.addProduct(a3, x)
        a4.addProduct(a4, x); a5.addProduct(a5, x); a6.addProduct(a6, x); a7.addProduct(a7, x)
        a8.addProduct(a8, x); a9.addProduct(a9, x); a10.addProduct(a10, x); a11.addProduct(a11, x)
        a12.addProduct(a12, x); a13.addProduct(a13, x); a14.addProduct(a14, x); a15.addProduct(a15, x)
    }
    let s = (a0 + a1 + a2 + a3) + (a4 + a5 + a6 + a7) + (a8 + a9 + a10 + a11) + (a12 + a13 + a14 + a15)
    return s.sum()
}

/// a[i] = b[i] + 3·c[i] with 16-wide vectors; `count` must be a multiple of 16.
@inline(never)
public func triad(_ a: UnsafeMutablePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, count: Int) {
    let s = SIMD16<Float>(repeating: 3)
    let av = UnsafeMutableRawPointer(a), bv = UnsafeRawPointer(b), cv = UnsafeRawPointer(c)
    var i = 0
    while i < count * 4 {
        var v = bv.load(fromByteOffset: i, as: SIMD16<Float>.self)
        v.addProduct(cv.load(fromByteOffset: i, as: SIMD16<Float>.self), s)
        av.storeBytes(of: v, toByteOffset: i, as: SIMD16<Float>.self)
        i += 64
    }
}

/// Keeps a value alive so the optimiser cannot delete the work that produced it.
@inline(never)
public func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }
