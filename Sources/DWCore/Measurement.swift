#if canImport(Glibc)
import Glibc
#endif

/// Monotonic wall-clock time in seconds (`CLOCK_MONOTONIC`, nanosecond resolution).
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// CPU time the calling thread has had, in seconds (`CLOCK_THREAD_CPUTIME_ID`): beside wall time, how much of
/// it the thread was actually running.
public func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// How a timing is taken. Caches are *warm*: the same input, weights and output buffers are reused
/// across iterations, as in a layer executed repeatedly in a model.
public struct TimingPolicy: Sendable {
    /// Untimed warm-up runs before measuring.
    public var warmup: Int = 1
    /// A repetition runs the operation enough times to take at least this long.
    public var minRepetitionSeconds: Double = 0.05
    /// Number of timed repetitions; their per-iteration medians are reported.
    public var repetitions: Int = 5
    /// If one run takes longer than this, stop after that single run and report it ("capped").
    public var capSeconds: Double = 3.0

    public init(warmup: Int = 1, minRepetitionSeconds: Double = 0.05, repetitions: Int = 5, capSeconds: Double = 3.0) {
        self.warmup = warmup
        self.minRepetitionSeconds = minRepetitionSeconds
        self.repetitions = repetitions
        self.capSeconds = capSeconds
    }
}

/// The outcome of timing one operation: per-iteration seconds of each repetition.
public struct Timing: Sendable, Codable, Equatable {
    /// Per-iteration time of each repetition, in seconds.
    public var samples: [Double]
    /// Iterations per repetition.
    public var iterations: Int
    /// True when the operation was too slow and only a single run was timed.
    public var capped: Bool

    public init(samples: [Double], iterations: Int, capped: Bool) {
        precondition(!samples.isEmpty, "a timing needs at least one sample")
        self.samples = samples
        self.iterations = iterations
        self.capped = capped
    }

    public var median: Double { DWCore.median(samples) }
    public var min: Double { samples.min() ?? 0 }
    public var max: Double { samples.max() ?? 0 }
    /// (max − min) / median: the relative spread of the repetitions.
    public var spread: Double { median > 0 ? (max - min) / median : 0 }
}

extension Timing {
/// Times `body` the FFTW/Google-Benchmark way: warm-up, grow the iteration count until one repetition
/// takes at least `minRepetitionSeconds`, then time `repetitions` repetitions.
/// Complexity: about `warmup + repetitions × minRepetitionSeconds` seconds, plus growth.
public static func measure(_ policy: TimingPolicy = TimingPolicy(), _ body: () -> Void) -> Timing {
    var first = 0.0
    for i in 0..<Swift.max(1, policy.warmup) {
        let t0 = monotonicSeconds()
        body()
        let dt = monotonicSeconds() - t0
        if i == 0 { first = dt }
        if dt > policy.capSeconds { return Timing(samples: [dt], iterations: 1, capped: true) }
    }
    let iterations = iterationCount(policy, firstRunSeconds: first, body)
    var samples: [Double] = []
    for _ in 0..<Swift.max(1, policy.repetitions) {
        let t0 = monotonicSeconds()
        for _ in 0..<iterations { body() }
        samples.append((monotonicSeconds() - t0) / Double(iterations))
    }
    return Timing(samples: samples, iterations: iterations, capped: false)
}

/// Iterations per repetition: grown from one run of `firstRunSeconds` (×2 at least, ×100 at most per
/// step, re-timing each step) until a repetition lasts `policy.minRepetitionSeconds`.
public static func iterationCount(_ policy: TimingPolicy, firstRunSeconds: Double, _ body: () -> Void) -> Int {
    var iterations = 1
    var estimate = Swift.max(firstRunSeconds, 1e-9)
    while Double(iterations) * estimate < policy.minRepetitionSeconds {
        let want = Int((policy.minRepetitionSeconds / estimate).rounded(.up))
        iterations = Swift.max(iterations * 2, Swift.min(want, iterations * 100))
        let t0 = monotonicSeconds()
        for _ in 0..<iterations { body() }
        estimate = (monotonicSeconds() - t0) / Double(iterations)
    }
    return iterations
}
}

/// Whether this code was compiled without optimisation. Debug numeric Swift is 20–100× slower, so
/// timing commands refuse to run in a debug build unless explicitly asked.
public var isDebugBuild: Bool {
    #if DEBUG
    return true
    #else
    return false
    #endif
}

/// The median of `values` (the mean of the two middle values for an even count; NaN when empty).
public func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    guard !s.isEmpty else { return .nan }
    let m = s.count / 2
    return s.count % 2 == 1 ? s[m] : 0.5 * (s[m - 1] + s[m])
}

/// Maximum resident set size of this process so far, in bytes.
public func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

/// Times several operations interleaved: each gets its own iteration count (`Timing.iterationCount`,
/// grown to the policy's minimum repetition time), then repetition r of every operation runs before repetition r + 1 of any.
public enum InterleavedTimer {
    public static func run(_ operations: [() -> Void], policy: TimingPolicy) -> [Timing] {
        var iterations: [Int] = []
        for op in operations {
            for _ in 0..<policy.warmup { op() }
            let t0 = monotonicSeconds()
            op()
            iterations.append(Timing.iterationCount(policy, firstRunSeconds: monotonicSeconds() - t0, op))
        }
        var samples = [[Double]](repeating: [], count: operations.count)
        for _ in 0..<max(1, policy.repetitions) {
            for (i, op) in operations.enumerated() {
                let t0 = monotonicSeconds()
                for _ in 0..<iterations[i] { op() }
                samples[i].append((monotonicSeconds() - t0) / Double(iterations[i]))
            }
        }
        return zip(samples, iterations).map { Timing(samples: $0, iterations: $1, capped: false) }
    }
}

/// max |a − b| / max |b| (0 when b is all zeros and a equals it).
public func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var maxDiff = 0.0, maxRef = 0.0
    for i in 0..<a.count {
        maxDiff = max(maxDiff, abs(Double(a[i]) - Double(b[i])))
        maxRef = max(maxRef, abs(Double(b[i])))
    }
    return maxRef > 0 ? maxDiff / maxRef : maxDiff
}
