import DWCPUCheck
import DWCore
import DWKernels
import DWTune
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// libdwconv: the C ABI of include/dwconv.h over the registry's kernels, the tuning plan and a thread pool per
// context. Everything here is glue: choosing (the Planner), preparing (the algorithms' own `prepare`, on the
// context's executor), layout conversion and error reporting. No Swift type crosses the ABI; handles are checked
// tickets into the registry of live objects (Handles.swift).

/// An error with its status code and one-line message.
struct DWConvError: Error {
    let status: Status
    let message: String
    init(_ status: Status, _ message: String) { self.status = status; self.message = message }
}

// MARK: thread-local last error

private let lastErrorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private func setLastError(_ message: String) {
    let old = pthread_getspecific(lastErrorKey)
    pthread_setspecific(lastErrorKey, strdup(message))
    free(old)
}

/// `body`'s result, or `fallback` when it throws (with the thread's last error set as `guarded` sets it): for
/// the entry points that return a value instead of a status.
private func queried<T>(_ fallback: T, _ body: () throws -> T) -> T {
    var result = fallback
    _ = guarded { result = try body() }
    return result
}

/// Runs `body`, mapping whatever it throws to a status code and the thread's last error.
private func guarded(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch let e as DWConvError {
        setLastError(e.message)
        return e.status.rawValue
    } catch let e as MemoryBudgetError {
        setLastError("\(e)")
        return Status.outOfMemory.rawValue
    } catch let e as PlanError {
        setLastError("\(e)")
        return Status.plan.rawValue
    } catch let e as AlgorithmError {
        setLastError("\(e)")
        if case .badWeights = e { return Status.invalidArgument.rawValue }
        return Status.unsupported.rawValue
    } catch let e as ProblemError {
        setLastError("\(e)")
        return Status.invalidArgument.rawValue
    } catch {
        setLastError("\(error)")
        return Status.unsupported.rawValue
    }
}

// MARK: objects behind the handles

/// A context: the executor its layers run on (a pool of its own with its own spin policy, or the host's threads
/// through its parallel-for), the plan chooser, and a lock so that one layer of the context runs at a time (an
/// executor runs one job at a time).
final class Context {
    let executor: any Executor
    /// The pool the context started, ended with it (nil when the host lends its threads).
    private let ownPool: ThreadPool?
    let planner: Planner
    let lock = NSLock()
    let warning: UnsafeMutablePointer<CChar>?

    /// Where a context's layers run: a pool the context starts, or the host's threads.
    enum ExecutorChoice {
        case pool(threads: Int, spinSeconds: Double)
        case host(HostExecutor)
    }

    init(_ choice: ExecutorChoice, plan: String?, planOnly: Bool) throws {
        let threads: Int
        switch choice {
        case let .pool(n, _): threads = n
        case let .host(h): threads = h.threads
        }
        var missing = [CChar](repeating: 0, count: 256)
        if dw_cpu_missing_features(&missing, missing.count) > 0 {
            throw DWConvError(.unsupported, "this CPU lacks \(String(decoding: missing.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)), which this libdwconv was built to use; build it on this machine")
        }
        if let plan {
            planner = try Planner.open(path: plan, threads: threads, planOnly: planOnly)
        } else {
            planner = .heuristic
        }
        warning = planner.warning.map { strdup($0) }
        switch choice {
        case let .pool(n, spin):
            let pool = ThreadPool(threads: n, spinSeconds: spin)
            ownPool = pool
            executor = pool
        case let .host(h):
            ownPool = nil
            executor = h
        }
    }

    deinit {
        ownPool?.shutdown()
        free(warning)
    }
}

/// What a layer computes, independent of the batch.
enum LayerShape {
    /// `layer` is the problem at batch 1.
    case depthwise(layer: Problem, weights: DepthwiseWeights)
    case pointwise(c: Int, o: Int, h: Int, w: Int, weights: PointwiseWeights, epilogue: PointwiseEpilogue, precision: Precision)

    func problem(batch n: Int) throws -> ConvProblem {
        switch self {
        case let .depthwise(layer, _): return .depthwise(try layer.with(n: n))
        case let .pointwise(c, o, h, w, _, _, precision): return .pointwise(try PointwiseProblem(n: n, c: c, h: h, w: w, o: o, precision: precision))
        }
    }
}

/// A layer prepared for one batch size: the chosen algorithm's plan and, when the caller's layout differs
/// from the algorithm's, buffers to convert through.
final class Prepared {
    let algorithm: UnsafeMutablePointer<CChar>
    let choice: UnsafeMutablePointer<CChar>
    let problem: ConvProblem
    let layout: Layout
    let run: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?) -> Void
    /// Native-layout copies of input, output and residual (nil when no conversion is needed).
    let staging: (input: AlignedBuffer, output: AlignedBuffer, residual: AlignedBuffer?)?
    /// A 1×1 plan that reads and writes the caller's NHWC tensors itself, fp32 or bf16 (`run` calls it for fp32).
    let nhwcPointwise: (any NHWCPointwisePlan)?

    init(name: String, source: String, problem: ConvProblem, layout: Layout, callerLayout: Layout, residual: Bool,
         nhwcPointwise: (any NHWCPointwisePlan)? = nil,
         run: @escaping (UnsafePointer<Float>, UnsafeMutablePointer<Float>, UnsafePointer<Float>?) -> Void) {
        self.nhwcPointwise = nhwcPointwise
        algorithm = strdup(name)
        choice = strdup(source)
        self.problem = problem
        self.layout = layout
        self.run = run
        if layout == callerLayout {
            staging = nil
        } else {
            let i = problem.inputShape, o = problem.outputShape
            staging = (AlignedBuffer(count: layout.storageCount(n: i.n, c: i.c, h: i.h, w: i.w)),
                       AlignedBuffer(count: layout.storageCount(n: o.n, c: o.c, h: o.h, w: o.w)),
                       residual ? AlignedBuffer(count: layout.storageCount(n: o.n, c: o.c, h: o.h, w: o.w)) : nil)
        }
    }

    deinit {
        free(algorithm)
        free(choice)
    }
}

final class Layer {
    let context: Context
    let shape: LayerShape
    let layout: Layout
    var prepared: [Int: Prepared] = [:]
    var conversionSeconds = 0.0

    init(context: Context, shape: LayerShape, layout: Layout) {
        self.context = context
        self.shape = shape
        self.layout = layout
    }

    var hasResidual: Bool {
        if case let .pointwise(_, _, _, _, _, e, _) = shape { return e.residual }
        return false
    }

    /// The planner's choice for this batch, prepared on the context's executor. A caller that asked for NCHW16c
    /// gets an NCHW16c algorithm; an NCHW caller gets the fastest once the layout conversions an NCHW16c algorithm
    /// needs are counted (inside PyTorch every tensor is NCHW, so an NCHW algorithm a little slower than an NCHW16c
    /// one can win overall). An NHWC caller gets an NCHW16c algorithm where one runs the problem (NHWC ↔ NCHW16c is
    /// the cheap conversion, 16-channel runs; the 1×1 GEMMs read and write NHWC themselves, no conversion at all),
    /// otherwise the fastest with conversions counted. A bf16 layer runs a bf16 algorithm: where the plan chose an
    /// fp32 one for the bf16 problem, the heuristic's bf16 GEMM instead.
    func prepare(batch: Int) throws -> Prepared {
        if let p = prepared[batch] { return p }
        guard batch >= 1 else { throw DWConvError(.invalidArgument, "batch must be at least 1, got \(batch)") }
        let problem = try shape.problem(batch: batch)
        try problem.requireMemory()
        let choice: Choice
        switch layout {
        case .nchw16c: choice = try context.planner.choose(problem, layout: .only(.nchw16c))
        case .nchw: choice = try context.planner.choose(problem, layout: .convertingFrom(.nchw, residual: hasResidual))
        case .nhwc:
            do {
                choice = try context.planner.choose(problem, layout: .only(.nchw16c))
            } catch is AlgorithmError {
                choice = try context.planner.choose(problem, layout: .convertingFrom(.nhwc, residual: hasResidual))
            }
        }
        var (algorithm, name, source) = (choice.algorithm, choice.algorithm.name, choice.sourceText)
        if case let .pointwise(p) = problem, p.precision == .bf16, algorithm.arithmetic != .bf16 {
            let bf16 = PointwiseConvolution.automaticChoice(for: p)
            guard bf16.arithmetic == .bf16 else { throw DWConvError(.unsupported, "no bf16 algorithm runs \(p) here: \(bf16.name) is fp32") }
            source = "heuristic (bf16 layer; the choice for \(p), \(name), is fp32)"
            (algorithm, name) = (bf16, bf16.name)
        }
        if let why = algorithm.supports(problem) { throw DWConvError(.unsupported, "\(name) does not support \(problem): \(why)") }
        let result: Prepared
        switch shape {
        case let .depthwise(_, weights):
            guard let p = problem.depthwise, let a = algorithm as? any DepthwiseAlgorithm else { throw DWConvError(.unsupported, "\(name) is not depthwise") }
            let plan = try a.prepare(p, weights: weights, executor: context.executor)
            result = Prepared(name: name, source: source, problem: problem, layout: plan.layout, callerLayout: layout, residual: false) { x, y, _ in
                plan.execute(input: x, output: y)
            }
        case let .pointwise(_, _, _, _, weights, epilogue, _):
            guard let p = problem.pointwise, let a = algorithm as? any PointwiseAlgorithm else { throw DWConvError(.unsupported, "\(name) is not pointwise") }
            let plan = try a.prepare(p, weights: weights, epilogue: epilogue, executor: context.executor)
            if layout == .nhwc, let direct = plan as? any NHWCPointwisePlan {
                // The GEMM reads and writes NHWC itself: no staging, no conversion.
                direct.reserveNHWC()
                result = Prepared(name: name, source: source, problem: problem, layout: .nhwc, callerLayout: .nhwc, residual: epilogue.residual,
                                  nhwcPointwise: direct) { x, y, r in
                    direct.executeNHWC(input: x, output: y, residual: r)
                }
            } else {
                result = Prepared(name: name, source: source, problem: problem, layout: plan.layout, callerLayout: layout,
                                  residual: epilogue.residual) { x, y, r in
                    plan.execute(input: x, output: y, residual: r)
                }
            }
        }
        prepared[batch] = result
        return result
    }

    /// A layout conversion split over the context's threads. NCHW ↔ NCHW16c: one task per image and block of 16
    /// channels (each block converts on its own: NCHW channels 16b…16b+15 ↔ NCHW16c block b, padding lanes zeroed).
    /// NHWC ↔ NCHW16c: `nhwc(_:_:toBlocked:shape:)`.
    func convert(_ src: UnsafePointer<Float>, from: Layout, _ dst: UnsafeMutablePointer<Float>, to: Layout,
                 shape s: (n: Int, c: Int, h: Int, w: Int)) {
        if from == .nhwc && to == .nchw16c { return nhwc(UnsafeMutablePointer(mutating: src), dst, toBlocked: true, shape: s) }
        if from == .nchw16c && to == .nhwc { return nhwc(dst, UnsafeMutablePointer(mutating: src), toBlocked: false, shape: s) }
        guard [from, to].allSatisfy({ $0 == .nchw || $0 == .nchw16c }) else {
            return LayoutConversion.convert(src, from: from, dst, to: to, n: s.n, c: s.c, h: s.h, w: s.w)
        }
        let blocks = Layout.blocks(s.c), plane = s.h * s.w
        let fromPtr = SendablePointer(src), toPtr = SendableMutablePointer(dst)
        func offset(_ layout: Layout, image: Int, block: Int) -> Int {
            layout == .nchw16c ? (image * blocks + block) * plane * 16 : (image * s.c + block * 16) * plane
        }
        context.executor.parallelFor(count: s.n * blocks) { task, _ in
            let image = task / blocks, block = task % blocks
            let channels = min(16, s.c - block * 16)
            LayoutConversion.convert(fromPtr.pointer + offset(from, image: image, block: block), from: from,
                                     toPtr.pointer + offset(to, image: image, block: block), to: to, n: 1, c: channels, h: s.h, w: s.w)
        }
    }

    /// NHWC (of `E`: fp32, or bf16 widened and rounded on the way) → NCHW16c when `toBlocked`, else back: one task
    /// per image and range of pixels, each pixel's channels moved 16 at a time (one 16-element load and store per
    /// pixel and block, `LayoutConversion.packNHWC`/`unpackNHWC`).
    func nhwc<E: TensorElement>(_ nhwc: UnsafeMutablePointer<E>, _ blocked: UnsafeMutablePointer<Float>, toBlocked: Bool,
                                shape s: (n: Int, c: Int, h: Int, w: Int)) {
        let blocks = Layout.blocks(s.c), plane = s.h * s.w
        // About four tasks per thread, of at least 64 pixels each.
        let perImage = max(1, min((plane + 63) / 64, (4 * context.executor.threads + s.n - 1) / s.n))
        let span = (plane + perImage - 1) / perImage
        let nhwcPtr = SendableMutablePointer(nhwc), blockedPtr = SendableMutablePointer(blocked)
        context.executor.parallelFor(count: s.n * perImage) { task, _ in
            let image = task / perImage, first = (task % perImage) * span, count = min(span, plane - first)
            guard count > 0 else { return }
            let a = nhwcPtr.pointer + image * plane * s.c + first * s.c, b = blockedPtr.pointer + image * blocks * plane * 16 + first * 16
            if toBlocked {
                LayoutConversion.packNHWC(UnsafePointer(a), channels: s.c, pixels: count, blocks: 0..<blocks, b, blockStride: plane * 16)
            } else {
                LayoutConversion.unpackNHWC(UnsafePointer(b), blockStride: plane * 16, blocks: 0..<blocks, pixels: count, a, channels: s.c)
            }
        }
    }

    func execute(batch: Int, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, residual: UnsafePointer<Float>?) throws {
        try checkResidual(residual != nil)
        let p = try prepare(batch: batch)
        guard let staging = p.staging else {
            conversionSeconds = 0
            p.run(input, output, residual)
            return
        }
        runStaged(p, staging, input: input, output: output, residual: residual,
                  pack: { convert($0, from: layout, $1, to: p.layout, shape: $2) },
                  unpack: { convert($0, from: p.layout, $1, to: layout, shape: $2) })
    }

    /// Runs `p` on its staging buffers: the caller's input (and residual) packed into the algorithm's layout, the
    /// output unpacked back into the caller's, the two conversions timed as `conversionSeconds`.
    private func runStaged<E>(_ p: Prepared, _ staging: (input: AlignedBuffer, output: AlignedBuffer, residual: AlignedBuffer?),
                              input: UnsafePointer<E>, output: UnsafeMutablePointer<E>, residual: UnsafePointer<E>?,
                              pack: (UnsafePointer<E>, UnsafeMutablePointer<Float>, (n: Int, c: Int, h: Int, w: Int)) -> Void,
                              unpack: (UnsafePointer<Float>, UnsafeMutablePointer<E>, (n: Int, c: Int, h: Int, w: Int)) -> Void) {
        let i = p.problem.inputShape, o = p.problem.outputShape
        let t0 = monotonicSeconds()
        pack(input, staging.input.pointer, i)
        if let residual, let r = staging.residual { pack(residual, r.pointer, o) }
        let t1 = monotonicSeconds()
        p.run(staging.input.pointer, staging.output.pointer, staging.residual.map { UnsafePointer($0.pointer) })
        let t2 = monotonicSeconds()
        unpack(staging.output.pointer, output, o)
        conversionSeconds = (t1 - t0) + (monotonicSeconds() - t2)
    }

    private func checkResidual(_ given: Bool) throws {
        if hasResidual && !given { throw DWConvError(.invalidArgument, "this layer adds a residual: pass its tensor") }
        if !hasResidual && given { throw DWConvError(.invalidArgument, "this layer has no residual: pass NULL") }
    }

    /// fp32 copies of a bf16 caller's tensors, per batch, for the layouts that have no bf16 path of their own.
    private var widened: [Int: (input: AlignedBuffer, output: AlignedBuffer, residual: AlignedBuffer?)] = [:]

    /// `execute` on bf16 tensors in the layer's layout (the arithmetic is the layer's own: fp32, or the bf16 engine's).
    /// - NHWC 1×1: the GEMM reads and writes bf16 NHWC itself (`NHWCPointwisePlan`), no conversion.
    /// - NHWC on an NCHW16c algorithm (depthwise): the conversions to and from its layout widen and round on the way.
    /// - Anything else: the tensors are widened into fp32 copies, the fp32 path runs, and the output is rounded
    ///   (counted as conversion time).
    /// The output is the fp32 path's on the widened input, rounded once to bf16 (`BF16.round`).
    func execute(batch: Int, bf16 input: UnsafePointer<BFloat16>, output: UnsafeMutablePointer<BFloat16>,
                 residual: UnsafePointer<BFloat16>?) throws {
        try checkResidual(residual != nil)
        let p = try prepare(batch: batch)
        if let direct = p.nhwcPointwise {
            conversionSeconds = 0
            direct.executeNHWC(input: input, output: output, residual: residual)
        } else if layout == .nhwc, p.layout == .nchw16c, let staging = p.staging {
            runStaged(p, staging, input: input, output: output, residual: residual,
                      pack: { nhwc(UnsafeMutablePointer(mutating: $0), $1, toBlocked: true, shape: $2) },
                      unpack: { nhwc($1, UnsafeMutablePointer(mutating: $0), toBlocked: false, shape: $2) })
        } else {
            let i = p.problem.inputShape, o = p.problem.outputShape
            let t0 = monotonicSeconds()
            let (inCount, outCount) = (layout.storageCount(n: i.n, c: i.c, h: i.h, w: i.w), layout.storageCount(n: o.n, c: o.c, h: o.h, w: o.w))
            let buffers = widened[batch] ?? (AlignedBuffer(count: inCount), AlignedBuffer(count: outCount),
                                             hasResidual ? AlignedBuffer(count: outCount) : nil)
            widened[batch] = buffers
            BF16.widen(input, buffers.input.pointer, count: inCount)
            if let residual, let r = buffers.residual { BF16.widen(residual, r.pointer, count: outCount) }
            let widening = monotonicSeconds() - t0
            try execute(batch: batch, input: buffers.input.pointer, output: buffers.output.pointer,
                        residual: buffers.residual.map { UnsafePointer($0.pointer) })
            let t1 = monotonicSeconds()
            BF16.narrow(buffers.output.pointer, output, count: outCount)
            conversionSeconds += widening + (monotonicSeconds() - t1)
        }
    }
}

// MARK: argument helpers

private func layoutArgument(_ value: Int32) throws -> Layout {
    switch LayoutCode(rawValue: value) {
    case .nchw: return .nchw
    case .nchw16c: return .nchw16c
    case .nhwc: return .nhwc
    case nil: throw DWConvError(.invalidArgument, "layout \(value) is not DWCONV_LAYOUT_NCHW (0), DWCONV_LAYOUT_NCHW16C (1) or DWCONV_LAYOUT_NHWC (2)")
    }
}

private func floats(_ pointer: UnsafePointer<Float>?, _ count: Int, _ what: String) throws -> [Float] {
    guard let pointer else { throw DWConvError(.invalidArgument, "\(what) is NULL") }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
}

private func positive(_ values: [(Int32, String)]) throws {
    for (v, name) in values where v < 1 { throw DWConvError(.invalidArgument, "\(name) must be at least 1, got \(v)") }
}

nonisolated(unsafe) private let versionText: UnsafeMutablePointer<CChar> = {
    let b = BuildSignature.current(registryNames: Registry.names)
    return strdup("dwconv \(b.package_version) (\(b.compiler), \(b.flags), registry \(b.registry_hash))")!
}()

// MARK: the C ABI

@_cdecl("dwconv_version")
public func dwconv_version() -> UnsafePointer<CChar> { UnsafePointer(versionText) }

@_cdecl("dwconv_abi_version")
public func dwconv_abi_version() -> Int32 { ABI.version }

@_cdecl("dwconv_last_error")
public func dwconv_last_error() -> UnsafePointer<CChar> {
    if let p = pthread_getspecific(lastErrorKey) { return UnsafePointer(p.assumingMemoryBound(to: CChar.self)) }
    return UnsafePointer(emptyText)
}

nonisolated(unsafe) private let emptyText: UnsafeMutablePointer<CChar> = strdup("")!

/// The default options of every version: all cores, default spin, no plan, the library's own threads.
private var defaultOptions: ContextOptions {
    ContextOptions(threads: 0, spin_us: -1, plan: nil, plan_only: 0, parallel_for: nil, parallel_for_host: nil, host_threads: 0)
}

@_cdecl("dwconv_context_options_init_v2")
public func dwconv_context_options_init_v2(_ options: UnsafeMutableRawPointer?) {
    options?.assumingMemoryBound(to: ContextOptions.self).pointee = defaultOptions
}

@_cdecl("dwconv_context_create_v2")
public func dwconv_context_create_v2(_ options: UnsafeRawPointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    createContext(options?.assumingMemoryBound(to: ContextOptions.self).pointee ?? defaultOptions, out)
}

/// ABI version 1's entry points, for programs built against that header: the version-1 options struct (the first
/// four fields), the library's own threads.
@_cdecl("dwconv_context_options_init")
public func dwconv_context_options_init(_ options: UnsafeMutableRawPointer?) {
    options?.assumingMemoryBound(to: ContextOptionsV1.self).pointee = ContextOptionsV1(threads: 0, spin_us: -1, plan: nil, plan_only: 0)
}

@_cdecl("dwconv_context_create")
public func dwconv_context_create(_ options: UnsafeRawPointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    var o = defaultOptions
    if let v1 = options?.assumingMemoryBound(to: ContextOptionsV1.self).pointee {
        (o.threads, o.spin_us, o.plan, o.plan_only) = (v1.threads, v1.spin_us, v1.plan, v1.plan_only)
    }
    return createContext(o, out)
}

private func createContext(_ o: ContextOptions, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw DWConvError(.invalidArgument, "context pointer is NULL") }
        out.pointee = nil
        let executor: Context.ExecutorChoice
        if let parallelFor = o.parallel_for {
            guard (1...ABI.maxThreads).contains(Int(o.host_threads)) else {
                throw DWConvError(.invalidArgument, "host_threads must be 1 to \(ABI.maxThreads) with parallel_for, got \(o.host_threads)")
            }
            executor = .host(HostExecutor(threads: Int(o.host_threads), parallelFor: parallelFor, host: o.parallel_for_host))
        } else {
            guard (0...ABI.maxThreads).contains(Int(o.threads)) else {
                throw DWConvError(.invalidArgument, "threads must be 0 (all cores) to \(ABI.maxThreads), got \(o.threads)")
            }
            executor = .pool(threads: o.threads == 0 ? ThreadPool.defaultThreads : Int(o.threads),
                             spinSeconds: o.spin_us < 0 ? ThreadPool.spinSeconds : Double(o.spin_us) * 1e-6)
        }
        let context = try Context(executor, plan: o.plan.map { String(cString: $0) }, planOnly: o.plan_only != 0)
        out.pointee = handles.register(context, as: .context)
    }
}

@_cdecl("dwconv_context_destroy")
public func dwconv_context_destroy(_ context: OpaquePointer?) -> Int32 {
    guard let context else { return Status.ok.rawValue }
    return guarded { _ = try handles.remove(context, .context) }
}

@_cdecl("dwconv_context_threads")
public func dwconv_context_threads(_ context: OpaquePointer?) -> Int32 {
    queried(0) {
        let c: Context = try handles.object(context, .context)
        return Int32(c.executor.threads)
    }
}

@_cdecl("dwconv_context_plan_warning")
public func dwconv_context_plan_warning(_ context: OpaquePointer?) -> UnsafePointer<CChar>? {
    queried(nil) {
        let c: Context = try handles.object(context, .context)
        return c.warning.map { UnsafePointer($0) }
    }
}

@_cdecl("dwconv_depthwise_create")
public func dwconv_depthwise_create(_ context: OpaquePointer?, _ channels: Int32, _ height: Int32, _ width: Int32, _ kernel: Int32,
                                    _ stride: Int32, _ padding: Int32, _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
                                    _ layout: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    dwconv_depthwise_create_2d(context, channels, height, width, kernel, kernel, stride, stride, padding, padding, 1, 1,
                               weight, bias, layout, out)
}

@_cdecl("dwconv_depthwise_create_2d")
public func dwconv_depthwise_create_2d(_ context: OpaquePointer?, _ channels: Int32, _ height: Int32, _ width: Int32,
                                       _ kernelH: Int32, _ kernelW: Int32, _ strideH: Int32, _ strideW: Int32,
                                       _ padH: Int32, _ padW: Int32, _ dilationH: Int32, _ dilationW: Int32,
                                       _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?,
                                       _ layout: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw DWConvError(.invalidArgument, "layer pointer is NULL") }
        out.pointee = nil
        let c: Context = try handles.object(context, .context)
        try positive([(channels, "channels"), (height, "height"), (width, "width"), (kernelH, "kernel height"), (kernelW, "kernel width"),
                      (strideH, "stride height"), (strideW, "stride width"), (dilationH, "dilation height"), (dilationW, "dilation width")])
        for (v, name) in [(padH, "padding height"), (padW, "padding width")] where v < 0 {
            throw DWConvError(.invalidArgument, "\(name) must not be negative, got \(v)")
        }
        // Validates the shape once (with batch 1) before copying weights.
        let problem = try Problem(n: 1, c: Int(channels), h: Int(height), w: Int(width), kh: Int(kernelH), kw: Int(kernelW),
                                  sh: Int(strideH), sw: Int(strideW), ph: Int(padH), pw: Int(padW), dh: Int(dilationH), dw: Int(dilationW))
        let weights = try DepthwiseWeights(channels: problem.c, kh: problem.kh, kw: problem.kw,
                                           weight: try floats(weight, problem.weightCount, "weight"),
                                           bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: problem.c)) })
        let layer = Layer(context: c, shape: .depthwise(layer: problem, weights: weights), layout: try layoutArgument(layout))
        out.pointee = handles.register(layer, as: .layer)
    }
}

@_cdecl("dwconv_pointwise_create")
public func dwconv_pointwise_create(_ context: OpaquePointer?, _ inChannels: Int32, _ outChannels: Int32, _ height: Int32, _ width: Int32,
                                    _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ activation: Int32, _ residual: Int32,
                                    _ layout: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    dwconv_pointwise_create_precision(context, inChannels, outChannels, height, width, weight, bias, activation, residual, layout,
                                      PrecisionCode.fp32.rawValue, out)
}

/// Why layers of `precision` cannot be created here, or nil.
private func precisionRefusal(_ precision: Precision) -> String? {
    if precision == .bf16 && !BF16Kernels.native {
        return "DWCONV_PRECISION_BF16 needs a CPU with avx512_bf16: this one has none" + (getenv("DWBENCH_NO_BF16") != nil ? " (or DWBENCH_NO_BF16 is set)" : "")
    }
    return nil
}

private func precisionArgument(_ value: Int32) throws -> Precision {
    switch PrecisionCode(rawValue: value) {
    case .fp32?: return .fp32
    case .bf16?: return .bf16
    case nil: throw DWConvError(.invalidArgument, "precision \(value) is not DWCONV_PRECISION_FP32 (0) or DWCONV_PRECISION_BF16 (1)")
    }
}

@_cdecl("dwconv_precision_supported")
public func dwconv_precision_supported(_ precision: Int32) -> Int32 {
    guard let p = try? precisionArgument(precision) else { return 0 }
    return precisionRefusal(p) == nil ? 1 : 0
}

@_cdecl("dwconv_pointwise_create_precision")
public func dwconv_pointwise_create_precision(_ context: OpaquePointer?, _ inChannels: Int32, _ outChannels: Int32, _ height: Int32, _ width: Int32,
                                              _ weight: UnsafePointer<Float>?, _ bias: UnsafePointer<Float>?, _ activation: Int32, _ residual: Int32,
                                              _ layout: Int32, _ precisionCode: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw DWConvError(.invalidArgument, "layer pointer is NULL") }
        out.pointee = nil
        let precision = try precisionArgument(precisionCode)
        let c: Context = try handles.object(context, .context)
        if let why = precisionRefusal(precision) { throw DWConvError(.unsupported, why) }
        try positive([(inChannels, "in_channels"), (outChannels, "out_channels"), (height, "height"), (width, "width")])
        let act: PointwiseEpilogue.Activation
        switch ActivationCode(rawValue: activation) {
        case .none?: act = .none
        case .relu?: act = .relu
        case .gelu?: act = .gelu
        case nil: throw DWConvError(.invalidArgument, "activation \(activation) is not NONE (0), RELU (1) or GELU (2)")
        }
        let (ci, co) = (Int(inChannels), Int(outChannels))
        _ = try PointwiseProblem(n: 1, c: ci, h: Int(height), w: Int(width), o: co)
        let weights = try PointwiseWeights(outChannels: co, inChannels: ci, weight: try floats(weight, co * ci, "weight"),
                                           bias: bias.map { Array(UnsafeBufferPointer(start: $0, count: co)) })
        let layer = Layer(context: c, shape: .pointwise(c: ci, o: co, h: Int(height), w: Int(width), weights: weights,
                                                        epilogue: PointwiseEpilogue(activation: act, residual: residual != 0), precision: precision),
                          layout: try layoutArgument(layout))
        out.pointee = handles.register(layer, as: .layer)
    }
}

@_cdecl("dwconv_layer_output_size")
public func dwconv_layer_output_size(_ layer: OpaquePointer?, _ channels: UnsafeMutablePointer<Int32>?, _ height: UnsafeMutablePointer<Int32>?,
                                     _ width: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded {
        let l: Layer = try handles.object(layer, .layer)
        let o = try l.shape.problem(batch: 1).outputShape
        channels?.pointee = Int32(o.c)
        height?.pointee = Int32(o.h)
        width?.pointee = Int32(o.w)
    }
}

@_cdecl("dwconv_layer_prepare")
public func dwconv_layer_prepare(_ layer: OpaquePointer?, _ batch: Int32) -> Int32 {
    guarded {
        let l: Layer = try handles.object(layer, .layer)
        l.context.lock.lock(); defer { l.context.lock.unlock() }
        _ = try l.prepare(batch: Int(batch))
    }
}

@_cdecl("dwconv_layer_execute")
public func dwconv_layer_execute(_ layer: OpaquePointer?, _ batch: Int32, _ input: UnsafePointer<Float>?, _ output: UnsafeMutablePointer<Float>?,
                                 _ residual: UnsafePointer<Float>?) -> Int32 {
    dwconv_layer_execute_dtype(layer, batch, DTypeCode.float32.rawValue, input, output, residual)
}

@_cdecl("dwconv_layer_execute_dtype")
public func dwconv_layer_execute_dtype(_ layer: OpaquePointer?, _ batch: Int32, _ dtype: Int32, _ input: UnsafeRawPointer?,
                                       _ output: UnsafeMutableRawPointer?, _ residual: UnsafeRawPointer?) -> Int32 {
    guarded {
        let l: Layer = try handles.object(layer, .layer)
        guard let code = DTypeCode(rawValue: dtype) else {
            throw DWConvError(.invalidArgument, "dtype \(dtype) is not DWCONV_DTYPE_FLOAT32 (0) or DWCONV_DTYPE_BFLOAT16 (1)")
        }
        guard let input else { throw DWConvError(.invalidArgument, "input is NULL") }
        guard let output else { throw DWConvError(.invalidArgument, "output is NULL") }
        l.context.lock.lock(); defer { l.context.lock.unlock() }
        switch code {
        case .float32:
            try l.execute(batch: Int(batch), input: input.assumingMemoryBound(to: Float.self), output: output.assumingMemoryBound(to: Float.self),
                          residual: residual?.assumingMemoryBound(to: Float.self))
        case .bfloat16:
            try l.execute(batch: Int(batch), bf16: input.assumingMemoryBound(to: BFloat16.self), output: output.assumingMemoryBound(to: BFloat16.self),
                          residual: residual?.assumingMemoryBound(to: BFloat16.self))
        }
    }
}

/// One of the strings a layer keeps per prepared batch size, or NULL (not prepared, or an invalid handle).
private func preparedText(_ layer: OpaquePointer?, _ batch: Int32, _ text: (Prepared) -> UnsafeMutablePointer<CChar>) -> UnsafePointer<CChar>? {
    queried(nil) {
        let l: Layer = try handles.object(layer, .layer)
        l.context.lock.lock(); defer { l.context.lock.unlock() }
        return l.prepared[Int(batch)].map { UnsafePointer(text($0)) }
    }
}

@_cdecl("dwconv_layer_algorithm")
public func dwconv_layer_algorithm(_ layer: OpaquePointer?, _ batch: Int32) -> UnsafePointer<CChar>? {
    preparedText(layer, batch) { $0.algorithm }
}

@_cdecl("dwconv_layer_choice")
public func dwconv_layer_choice(_ layer: OpaquePointer?, _ batch: Int32) -> UnsafePointer<CChar>? {
    preparedText(layer, batch) { $0.choice }
}

@_cdecl("dwconv_layer_conversion_seconds")
public func dwconv_layer_conversion_seconds(_ layer: OpaquePointer?) -> Double {
    queried(-1) {
        let l: Layer = try handles.object(layer, .layer)
        return l.conversionSeconds
    }
}

@_cdecl("dwconv_layer_destroy")
public func dwconv_layer_destroy(_ layer: OpaquePointer?) -> Int32 {
    guard let layer else { return Status.ok.rawValue }
    return guarded { _ = try handles.remove(layer, .layer) }
}
