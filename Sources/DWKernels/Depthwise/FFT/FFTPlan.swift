import Foundation

/// Transform sizes whose only prime factors are 2, 3 and 5 (and even, so the real-pair packing and
/// radix-4 passes apply). Such sizes keep every pass a small fixed butterfly.
@_spi(KernelParts) public enum SmoothSize {
    /// The smallest even 2·3·5-smooth number ≥ `x`.
    @_spi(KernelParts) public static func atLeast(_ x: Int) -> Int {
        var n = max(2, x)
        while true {
            var m = n
            for f in [2, 3, 5] { while m % f == 0 { m /= f } }
            if m == 1 && n % 2 == 0 { return n }
            n += 1
        }
    }
}

/// A 1-D complex FFT of size n (2·3·5-smooth) in Stockham autosort form, vectorised over 16 lanes and
/// batched over `batch` contiguous elements per point (batch = 1 for a row; batch = row length to
/// transform all columns of a 2-D array in one pass with unit-stride inner loops).
///
/// Stages use radix 4, 2, 3 and 5 butterflies; stage i with radix R and Nₛ = product of earlier radices
/// reads points j + r·n/R, multiplies by ω^(r·(j mod Nₛ)) with ω = e^(∓2πi/(Nₛ·R)), applies the R-point
/// DFT, and writes points (j div Nₛ)·Nₛ·R + (j mod Nₛ) + r·Nₛ. Output is in natural order.
/// Twiddles are computed in Double and stored as Float. Complexity Θ(n log n · batch) per transform.
/// The forward transform is unnormalised; the inverse is the unnormalised conjugate transform.
@_spi(KernelParts) public final class FFTPlan: Sendable {
    @_spi(KernelParts) public struct Stage: Sendable {
        @_spi(KernelParts) public let radix: Int
        let ns: Int
        /// cos and sin of 2π·r·k/(Nₛ·R) for k in 0..<Nₛ, r in 1..<R, at [k·(R−1) + r − 1].
        let cos: [Float]
        let sin: [Float]
    }

    let n: Int
    @_spi(KernelParts) public let stages: [Stage]

    @_spi(KernelParts) public init(size n: Int) {
        precondition(n >= 1)
        self.n = n
        var radices: [Int] = []
        var m = n
        while m % 4 == 0 { radices.append(4); m /= 4 }
        while m % 2 == 0 { radices.append(2); m /= 2 }
        while m % 3 == 0 { radices.append(3); m /= 3 }
        while m % 5 == 0 { radices.append(5); m /= 5 }
        precondition(m == 1, "FFT size \(n) is not 2·3·5-smooth")
        var ns = 1
        var stages: [Stage] = []
        for r in radices {
            var c = [Float](), s = [Float]()
            for k in 0..<ns {
                for q in 1..<r {
                    let angle = 2.0 * Double.pi * Double(q * k) / Double(ns * r)
                    c.append(Float(Foundation.cos(angle)))
                    s.append(Float(Foundation.sin(angle)))
                }
            }
            stages.append(Stage(radix: r, ns: ns, cos: c, sin: s))
            ns *= r
        }
        self.stages = stages
    }

    /// Transforms `input` (n points × batch) into `output`. `work` holds n·batch elements. `input` is
    /// read only by the first pass, so it may be `work` only if there is a single stage; `output` must
    /// differ from both. Passes alternate between `output` and `work` so the last one lands in `output`.
    ///
    /// `stride` (default `batch`) is the distance in elements between consecutive points of `input` and
    /// `output`, `workStride` (default `batch`) that of `work`: with stride = row length and batch < row
    /// length, a 2-D column pass runs on a strip of columns with a strip-sized work buffer that stays in cache.
    @_spi(KernelParts) public func transform(_ input: UnsafePointer<ComplexVector>, _ output: UnsafeMutablePointer<ComplexVector>,
                   work: UnsafeMutablePointer<ComplexVector>, batch: Int, inverse: Bool,
                   stride: Int? = nil, workStride: Int? = nil) {
        let sign: Float = inverse ? 1 : -1
        let ioStride = stride ?? batch, wStride = workStride ?? batch
        if stages.isEmpty {
            for j in 0..<n { (output + j * ioStride).update(from: input + j * ioStride, count: batch) }
            return
        }
        var src = input
        var ss = ioStride
        for (i, stage) in stages.enumerated() {
            let toOutput = (stages.count - 1 - i) % 2 == 0
            let dst = toOutput ? output : work
            let ds = toOutput ? ioStride : wStride
            stage.cos.withUnsafeBufferPointer { c in
                stage.sin.withUnsafeBufferPointer { s in
                    let tw = Twiddles(cos: c.baseAddress!, sin: s.baseAddress!, sign: sign)
                    switch stage.radix {
                    case 4: radix4(src, dst, n: n, ns: stage.ns, batch: batch, ss: ss, ds: ds, tw: tw, sign: sign)
                    case 2: radix2(src, dst, n: n, ns: stage.ns, batch: batch, ss: ss, ds: ds, tw: tw)
                    case 3: radix3(src, dst, n: n, ns: stage.ns, batch: batch, ss: ss, ds: ds, tw: tw, sign: sign)
                    default: radix5(src, dst, n: n, ns: stage.ns, batch: batch, ss: ss, ds: ds, tw: tw, sign: sign)
                    }
                }
            }
            src = UnsafePointer(dst)
            ss = ds
        }
    }
}

/// Twiddle table of one stage; `sign` −1 (forward) uses e^(−iθ), +1 (inverse) e^(+iθ).
struct Twiddles {
    let cos: UnsafePointer<Float>
    let sin: UnsafePointer<Float>
    let sign: Float
    @inline(__always) func apply(_ v: ComplexVector, k: Int, r: Int, radix: Int) -> ComplexVector {
        let idx = k * (radix - 1) + r - 1
        return v.times(cos[idx], sign * sin[idx])
    }
}

@inline(__always)
private func radix2(_ src: UnsafePointer<ComplexVector>, _ dst: UnsafeMutablePointer<ComplexVector>,
                    n: Int, ns: Int, batch: Int, ss: Int, ds: Int, tw: Twiddles) {
    let m = n / 2
    for j in 0..<m {
        let k = j % ns
        let base = (j / ns) * ns * 2 + k
        let i0 = src + j * ss, i1 = src + (j + m) * ss
        let o0 = dst + base * ds, o1 = dst + (base + ns) * ds
        for b in 0..<batch {
            let v0 = i0[b]
            var v1 = i1[b]
            if k != 0 { v1 = tw.apply(v1, k: k, r: 1, radix: 2) }
            o0[b] = v0 + v1
            o1[b] = v0 - v1
        }
    }
}

@inline(__always)
private func radix4(_ src: UnsafePointer<ComplexVector>, _ dst: UnsafeMutablePointer<ComplexVector>,
                    n: Int, ns: Int, batch: Int, ss: Int, ds: Int, tw: Twiddles, sign: Float) {
    let m = n / 4
    for j in 0..<m {
        let k = j % ns
        let base = (j / ns) * ns * 4 + k
        let i0 = src + j * ss, i1 = src + (j + m) * ss, i2 = src + (j + 2 * m) * ss, i3 = src + (j + 3 * m) * ss
        let o0 = dst + base * ds, o1 = dst + (base + ns) * ds
        let o2 = dst + (base + 2 * ns) * ds, o3 = dst + (base + 3 * ns) * ds
        for b in 0..<batch {
            let v0 = i0[b]
            var v1 = i1[b], v2 = i2[b], v3 = i3[b]
            if k != 0 {
                v1 = tw.apply(v1, k: k, r: 1, radix: 4)
                v2 = tw.apply(v2, k: k, r: 2, radix: 4)
                v3 = tw.apply(v3, k: k, r: 3, radix: 4)
            }
            let t0 = v0 + v2, t1 = v0 - v2
            let t2 = v1 + v3, t3 = (v1 - v3).rotated(sign)
            o0[b] = t0 + t2
            o1[b] = t1 + t3
            o2[b] = t0 - t2
            o3[b] = t1 - t3
        }
    }
}

@inline(__always)
private func radix3(_ src: UnsafePointer<ComplexVector>, _ dst: UnsafeMutablePointer<ComplexVector>,
                    n: Int, ns: Int, batch: Int, ss: Int, ds: Int, tw: Twiddles, sign: Float) {
    let m = n / 3
    let half = SIMD16<Float>(repeating: 0.5)
    let s60 = SIMD16<Float>(repeating: Float(3.0.squareRoot() / 2))
    for j in 0..<m {
        let k = j % ns
        let base = (j / ns) * ns * 3 + k
        let i0 = src + j * ss, i1 = src + (j + m) * ss, i2 = src + (j + 2 * m) * ss
        let o0 = dst + base * ds, o1 = dst + (base + ns) * ds, o2 = dst + (base + 2 * ns) * ds
        for b in 0..<batch {
            let v0 = i0[b]
            var v1 = i1[b], v2 = i2[b]
            if k != 0 {
                v1 = tw.apply(v1, k: k, r: 1, radix: 3)
                v2 = tw.apply(v2, k: k, r: 2, radix: 3)
            }
            let t = v1 + v2
            let mid = v0 - t * half
            let rot = ((v1 - v2) * s60).rotated(sign)
            o0[b] = v0 + t
            o1[b] = mid + rot
            o2[b] = mid - rot
        }
    }
}

@inline(__always)
private func radix5(_ src: UnsafePointer<ComplexVector>, _ dst: UnsafeMutablePointer<ComplexVector>,
                    n: Int, ns: Int, batch: Int, ss: Int, ds: Int, tw: Twiddles, sign: Float) {
    let m = n / 5
    let c1 = SIMD16<Float>(repeating: Float(cos(2 * Double.pi / 5))), c2 = SIMD16<Float>(repeating: Float(cos(4 * Double.pi / 5)))
    let s1 = SIMD16<Float>(repeating: Float(sin(2 * Double.pi / 5))), s2 = SIMD16<Float>(repeating: Float(sin(4 * Double.pi / 5)))
    for j in 0..<m {
        let k = j % ns
        let base = (j / ns) * ns * 5 + k
        let i0 = src + j * ss
        let o0 = dst + base * ds
        for b in 0..<batch {
            let v0 = i0[b]
            var v1 = i0[m * ss + b], v2 = i0[2 * m * ss + b], v3 = i0[3 * m * ss + b], v4 = i0[4 * m * ss + b]
            if k != 0 {
                v1 = tw.apply(v1, k: k, r: 1, radix: 5)
                v2 = tw.apply(v2, k: k, r: 2, radix: 5)
                v3 = tw.apply(v3, k: k, r: 3, radix: 5)
                v4 = tw.apply(v4, k: k, r: 4, radix: 5)
            }
            let t1 = v1 + v4, t2 = v2 + v3, d1 = v1 - v4, d2 = v2 - v3
            let m1 = v0 + t1 * c1 + t2 * c2
            let m2 = v0 + t1 * c2 + t2 * c1
            let r1 = (d1 * s1 + d2 * s2).rotated(sign)
            let r2 = (d1 * s2 - d2 * s1).rotated(sign)
            o0[b] = v0 + t1 + t2
            o0[ns * ds + b] = m1 + r1
            o0[2 * ns * ds + b] = m2 + r2
            o0[3 * ns * ds + b] = m2 - r2
            o0[4 * ns * ds + b] = m1 - r1
        }
    }
}
