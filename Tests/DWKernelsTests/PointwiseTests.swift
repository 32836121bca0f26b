import DWCore
import DWKernels
import Foundation
import XCTest

/// The fp64 reference of a 1×1 layer with its epilogue: y = act(Σ_c W[o,c]·(x_c·scale_c + shift_c) + b_o) + r,
/// accumulated in Double, GELU through libm's erf in Double. Independent of every kernel under test.
func referencePointwise(_ p: PointwiseProblem, input: [Float], weights w: PointwiseWeights,
                        epilogue: PointwiseEpilogue, residual: [Float]?) -> [Double] {
    var out = [Double](repeating: 0, count: p.outputCount)
    let hw = p.pixels
    for b in 0..<p.n {
        for o in 0..<p.o {
            for px in 0..<hw {
                var acc = Double(w.bias?[o] ?? 0)
                for c in 0..<p.c {
                    var x = Double(input[(b * p.c + c) * hw + px])
                    if let s = w.inputScale, let t = w.inputShift { x = x * Double(s[c]) + Double(t[c]) }
                    acc += Double(w.weight[o * p.c + c]) * x
                }
                switch epilogue.activation {
                case .none: break
                case .relu: acc = max(acc, 0)
                case .gelu: acc = 0.5 * acc * (1 + erf(acc / 2.0.squareRoot()))
                }
                let i = (b * p.o + o) * hw + px
                if let residual { acc += Double(residual[i]) }
                out[i] = acc
            }
        }
    }
    return out
}

/// Labelled pointwise sweep: channel counts that are not multiples of 16 (1, 3, 17, 33, 100) and that span
/// several cache blocks (600 > kc), output counts that leave partial panels (1, 5, 33, 50, 70), pixel
/// counts that leave partial tiles and several chunks (1×1, 3×5, 7×7, 20×20), N = 2.
func pointwiseSweep() -> [PointwiseProblem] {
    let shapes: [(n: Int, c: Int, h: Int, w: Int, o: Int)] = [
        (1, 1, 1, 1, 1), (1, 3, 3, 5, 5), (2, 17, 7, 7, 33), (1, 33, 1, 1, 50), (1, 16, 4, 4, 16),
        (2, 100, 3, 5, 70), (1, 64, 20, 20, 48), (1, 600, 3, 5, 70), (1, 48, 7, 7, 96), (2, 5, 9, 2, 17),
        (1, 520, 2, 7, 20), (1, 32, 16, 17, 64),
    ]
    return shapes.map { try! PointwiseProblem(n: $0.n, c: $0.c, h: $0.h, w: $0.w, o: $0.o) }
}

/// Every epilogue, with and without a folded pre-BatchNorm.
let pointwiseEpilogues: [(PointwiseEpilogue, preBN: Bool)] = [
    (.none, false), (PointwiseEpilogue(activation: .relu), false), (PointwiseEpilogue(activation: .gelu), false),
    (PointwiseEpilogue(residual: true), false), (PointwiseEpilogue(activation: .gelu, residual: true), true),
    (PointwiseEpilogue(activation: .relu, residual: true), true), (.none, true),
]

final class PointwiseTests: XCTestCase {
    func testEveryPointwiseAlgorithmMatchesTheReference() throws {
        var checked = 0
        var worst: [String: Double] = [:]
        for (index, problem) in pointwiseSweep().enumerated() {
            for (e, (epilogue, preBN)) in pointwiseEpilogues.enumerated() {
                let seed = UInt64(100 * index + e)
                var rng = SeededGenerator(seed: seed)
                let input = rng.signedArray(problem.inputCount).map { 3 * $0 }
                let residual = epilogue.residual ? rng.signedArray(problem.outputCount) : nil
                let weights = PointwiseWeights.random(for: problem, bias: e % 3 != 2, preBatchNorm: preBN, seed: seed + 7)
                let reference = referencePointwise(problem, input: input, weights: weights, epilogue: epilogue, residual: residual)
                let label = "\(problem) epilogue \(epilogue)\(preBN ? " with pre-BN" : "")"
                for algorithm in Registry.pointwise {
                    XCTAssertNil(algorithm.supports(problem), "\(algorithm.name) refused \(label)")
                    let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, threads: 2)
                    let x = Tensor(nchw: input, n: problem.n, c: problem.c, h: problem.h, w: problem.w).converted(to: plan.layout)
                    let r = residual.map { Tensor(nchw: $0, n: problem.n, c: problem.o, h: problem.h, w: problem.w).converted(to: plan.layout) }
                    let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: plan.layout)
                    plan.execute(input: x.pointer, output: y.pointer, residual: r.map { UnsafePointer($0.pointer) })
                    let error = relativeError(y.nchwValues(), reference)
                    XCTAssertLessThanOrEqual(error, 1e-5, "\(algorithm.name) on \(label): relative error \(error)")
                    if plan.layout == .nchw16c, problem.o % 16 != 0 {
                        // Padding lanes of the channel-blocked output stay zero (the next layer relies on it).
                        let blocks = Layout.blocks(problem.o), hw = problem.pixels
                        var padding: Float = 0
                        for b in 0..<problem.n {
                            for px in 0..<hw {
                                for lane in (problem.o % 16)..<16 {
                                    padding = max(padding, abs(y.pointer[((b * blocks + blocks - 1) * hw + px) * 16 + lane]))
                                }
                            }
                        }
                        XCTAssertEqual(padding, 0, "\(algorithm.name) on \(label): nonzero padding lanes")
                    }
                    worst[algorithm.name] = max(worst[algorithm.name] ?? 0, error)
                    checked += 1
                }
            }
        }
        XCTAssertEqual(checked, pointwiseSweep().count * pointwiseEpilogues.count * Registry.pointwise.count)
        print("pointwise sweep: \(checked) cases; worst relative error:",
              worst.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.1e", $0.value))" }.joined(separator: ", "))
    }

    /// Our GEMM splits output tiles over threads and sums in one order: 1, 2 and 3 threads agree bitwise,
    /// and two runs of one plan agree bitwise.
    func testGEMMIsThreadInvariantAndDeterministic() throws {
        for text in ["n1c600h3w5o70", "n2c100h20w20o48", "n1c1024h7w7o96"] {
            let problem = try PointwiseProblem(parsing: text)
            let weights = PointwiseWeights.random(for: problem, preBatchNorm: true, seed: 3)
            var rng = SeededGenerator(seed: 4)
            let input = Tensor(nchw: rng.signedArray(problem.inputCount), n: problem.n, c: problem.c, h: problem.h, w: problem.w)
                .converted(to: .nchw16c)
            let residual = Tensor(nchw: rng.signedArray(problem.outputCount), n: problem.n, c: problem.o, h: problem.h, w: problem.w)
                .converted(to: .nchw16c)
            let epilogue = PointwiseEpilogue(activation: .gelu, residual: true)
            for algorithm in Registry.pointwise where algorithm.name.hasPrefix("gemm-simd") {
                var outputs: [[UInt32]] = []
                for threads in [1, 2, 3, 3] {
                    let plan = try algorithm.prepare(problem, weights: weights, epilogue: epilogue, threads: threads)
                    let y = Tensor(n: problem.n, c: problem.o, h: problem.h, w: problem.w, layout: .nchw16c)
                    plan.execute(input: input.pointer, output: y.pointer, residual: residual.pointer)
                    outputs.append(y.storage.toArray().map(\.bitPattern))
                }
                XCTAssertEqual(outputs[0], outputs[1], "\(algorithm.name) on \(problem): 1 vs 2 threads")
                XCTAssertEqual(outputs[0], outputs[2], "\(algorithm.name) on \(problem): 1 vs 3 threads")
                XCTAssertEqual(outputs[2], outputs[3], "\(algorithm.name) on \(problem): two runs differ")
            }
        }
    }

    /// The SIMD erf used by the GELU epilogue stays within 4e-7 of libm's erf.
    func testGELUMatchesTheErfForm() throws {
        let problem = try PointwiseProblem(parsing: "n1c1h1w1o1")
        let weights = try PointwiseWeights(outChannels: 1, inChannels: 1, weight: [1], bias: [0])
        for algorithm in Registry.pointwise {
            let plan = try algorithm.prepare(problem, weights: weights, epilogue: PointwiseEpilogue(activation: .gelu), threads: 1)
            let x = Tensor(n: 1, c: 1, h: 1, w: 1, layout: plan.layout), y = Tensor(n: 1, c: 1, h: 1, w: 1, layout: plan.layout)
            var worst = 0.0
            for i in 0...1200 {
                let v = Float(i - 600) / 100  // −6 … 6
                x.pointer[0] = v
                plan.execute(input: x.pointer, output: y.pointer, residual: nil)
                let exact = 0.5 * Double(v) * (1 + erf(Double(v) / 2.0.squareRoot()))
                worst = max(worst, abs(Double(y.pointer[0]) - exact))
            }
            XCTAssertLessThan(worst, 2e-6, "\(algorithm.name): GELU error \(worst)")
        }
    }

    func testProblemTextForms() throws {
        let p = try PointwiseProblem(parsing: "n1c512h14w14o2048")
        XCTAssertEqual(p.description, "n1c512h14w14o2048")
        XCTAssertEqual(p.flops, 2.0 * 2048 * 512 * 196)
        XCTAssertEqual(try ConvProblem(parsing: "n1c512h14w14o2048"), .pointwise(p))
        XCTAssertEqual(try ConvProblem(parsing: "n1c128h56w56k31s1p15").kind, "depthwise")
        for bad in ["n1c512h14w14", "n1c512h14w14o0", "n1c512h14w14o2048x", "n1c512w14h14o2048", "n1c99999h99999w99999o1"] {
            XCTAssertThrowsError(try ConvProblem(parsing: bad), bad)
        }
    }
}
