/// The arithmetic a problem allows. `fp32` (the default) runs fp32 algorithms only. `bf16` also admits
/// algorithms that round their operands to bfloat16 and multiply them with fp32 accumulation
/// (`vdpbf16ps`); fp32 algorithms remain candidates, so the tuner picks bf16 only where it measures faster.
/// This is OpenVINO's "inference precision hint": a permission, not an obligation.
public enum Precision: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
    case fp32, bf16
    public var description: String { rawValue }

    /// Parses "fp32" or "bf16" (the CLI's `auto` is resolved by the caller, which knows the CPU).
    public init(parsing text: String) throws {
        guard let p = Precision(rawValue: text) else {
            throw ProblemError.syntax(text, "unknown precision (expected fp32, bf16 or auto)")
        }
        self = p
    }
}

import DWBF16

/// bfloat16: the top 16 bits of an IEEE binary32 (1 sign, 8 exponent, 7 fraction bits).
///
/// `round` is exactly what x86's `vcvtneps2bf16` computes, so that a fp32 emulation and the hardware give
/// the same bits (the tests compare them wherever the instruction exists):
/// - NaN stays NaN: its sign and top 7 fraction bits are kept and it is made quiet (bit 6 set);
/// - a denormal input becomes zero of the same sign (the instruction treats denormals as zero);
/// - everything else rounds to nearest, ties to even; overflow rounds to infinity.
public enum BF16 {
    @inlinable @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        if x.isSubnormal { return UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000) }
        let rounded = bits &+ 0x7fff &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }

    /// The bf16 value as a Float (exact).
    @inlinable @inline(__always)
    public static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// `x` rounded to bf16 and widened back: the value a bf16 algorithm multiplies.
    @inline(__always)
    public static func rounded(_ x: Float) -> Float { float(round(x)) }

    /// Whether this CPU executes AVX512_BF16 (CPUID leaf 7.1 EAX bit 5, with AVX-512 state saved by the OS; false
    /// under DWBENCH_NO_BF16). The one answer every bf16 path dispatches on.
    public static let native: Bool = dw_bf16_native() != 0
}
