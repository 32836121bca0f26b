import DWCore

/// The element-wise math of `PointwiseEpilogue`, in SIMD16 (the fused path) and scalar (tails and the
/// reference) forms that compute the same function.
enum EpilogueMath {
    // erf(x) ≈ x·P(x²)/Q(x²) on [−4, 4], clamped outside (where |erf| rounds to 1 in fp32). This is the
    // rational approximation of Eigen's float erf (coefficients from there): max abs error 3.7e-7 against
    // libm's erf over [−6, 6] in fp32 arithmetic (about 3 ulp at 1); 11 FMAs and one division per 16 lanes.
    static let p0: Float = -1.60960333262415e-02
    static let p1: Float = -2.95459980854025e-03
    static let p2: Float = -7.34990630326855e-04
    static let p3: Float = -5.69250639462346e-05
    static let p4: Float = -2.10102402082508e-06
    static let p5: Float = 2.77068142495902e-08
    static let p6: Float = -2.72614225801306e-10
    static let q0: Float = -1.42647390514189e-02
    static let q1: Float = -7.37332916720468e-03
    static let q2: Float = -1.68282697438203e-03
    static let q3: Float = -2.13374055278905e-04
    static let q4: Float = -1.45660718464996e-05

    @inline(__always)
    static func erf(_ a: SIMD16<Float>) -> SIMD16<Float> {
        // Compare-and-blend clamp (SIMD `clamped` is scalarised per lane); NaN passes through.
        var x = a.replacing(with: -4, where: a .< -4)
        x.replace(with: 4, where: x .> 4)
        let x2 = x * x
        var num = SIMD16<Float>(repeating: p5).addingProduct(SIMD16(repeating: p6), x2)
        num = SIMD16<Float>(repeating: p4).addingProduct(num, x2)
        num = SIMD16<Float>(repeating: p3).addingProduct(num, x2)
        num = SIMD16<Float>(repeating: p2).addingProduct(num, x2)
        num = SIMD16<Float>(repeating: p1).addingProduct(num, x2)
        num = SIMD16<Float>(repeating: p0).addingProduct(num, x2)
        var den = SIMD16<Float>(repeating: q3).addingProduct(SIMD16(repeating: q4), x2)
        den = SIMD16<Float>(repeating: q2).addingProduct(den, x2)
        den = SIMD16<Float>(repeating: q1).addingProduct(den, x2)
        den = SIMD16<Float>(repeating: q0).addingProduct(den, x2)
        return x * num / den
    }

    @inline(__always)
    static func erf(_ a: Float) -> Float {
        let x = min(max(a, -4), 4)
        let x2 = x * x
        var num = p5.addingProduct(p6, x2)
        num = p4.addingProduct(num, x2)
        num = p3.addingProduct(num, x2)
        num = p2.addingProduct(num, x2)
        num = p1.addingProduct(num, x2)
        num = p0.addingProduct(num, x2)
        var den = q3.addingProduct(q4, x2)
        den = q2.addingProduct(den, x2)
        den = q1.addingProduct(den, x2)
        den = q0.addingProduct(den, x2)
        return x * num / den
    }

    static let invSqrt2: Float = 0.70710678118654752

    @inline(__always)
    static func apply(_ v: SIMD16<Float>, _ activation: PointwiseEpilogue.Activation) -> SIMD16<Float> {
        switch activation {
        case .none: return v
        case .relu: return v.replacing(with: 0, where: v .< 0)
        case .gelu:
            let half = SIMD16<Float>(repeating: 0.5) * v
            return half.addingProduct(half, erf(v * invSqrt2))
        }
    }

    @inline(__always)
    static func apply(_ v: Float, _ activation: PointwiseEpilogue.Activation) -> Float {
        switch activation {
        case .none: return v
        case .relu: return v < 0 ? 0 : v
        case .gelu:
            let half = 0.5 * v
            return half.addingProduct(half, erf(v * invSqrt2))
        }
    }
}
