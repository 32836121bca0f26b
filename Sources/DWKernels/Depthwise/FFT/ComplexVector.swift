/// 16 complex numbers, one per SIMD lane: the FFT works on 16 channels at once, so every butterfly is
/// plain vector arithmetic with no shuffles. Stored as 16 real parts then 16 imaginary parts (128 bytes).
@_spi(KernelParts) public struct ComplexVector: Sendable {
    @_spi(KernelParts) public var re: SIMD16<Float>
    @_spi(KernelParts) public var im: SIMD16<Float>

    @_spi(KernelParts) public static let zero = ComplexVector(re: .zero, im: .zero)

    @inline(__always) @_spi(KernelParts) public init(re: SIMD16<Float>, im: SIMD16<Float>) { self.re = re; self.im = im }

    @inline(__always) static func + (a: ComplexVector, b: ComplexVector) -> ComplexVector {
        ComplexVector(re: a.re + b.re, im: a.im + b.im)
    }
    @inline(__always) static func - (a: ComplexVector, b: ComplexVector) -> ComplexVector {
        ComplexVector(re: a.re - b.re, im: a.im - b.im)
    }
    /// Scales both parts by a real vector.
    @inline(__always) static func * (a: ComplexVector, s: SIMD16<Float>) -> ComplexVector {
        ComplexVector(re: a.re * s, im: a.im * s)
    }
    /// Complex product, lane by lane.
    @inline(__always) static func * (a: ComplexVector, b: ComplexVector) -> ComplexVector {
        var re = a.re * b.re
        re.addProduct(-a.im, b.im)
        var im = a.re * b.im
        im.addProduct(a.im, b.re)
        return ComplexVector(re: re, im: im)
    }
    /// Product with one complex scalar (a twiddle factor) broadcast to every lane.
    @inline(__always) func times(_ wr: Float, _ wi: Float) -> ComplexVector {
        var r = re * wr
        r.addProduct(im, SIMD16(repeating: -wi))
        var i = re * wi
        i.addProduct(im, SIMD16(repeating: wr))
        return ComplexVector(re: r, im: i)
    }
    @inline(__always) var conjugate: ComplexVector { ComplexVector(re: re, im: -im) }
    /// Multiplies by i·sign (sign = ±1): a quarter turn, no multiplications.
    @inline(__always) func rotated(_ sign: Float) -> ComplexVector {
        sign < 0 ? ComplexVector(re: im, im: -re) : ComplexVector(re: -im, im: re)
    }
}
