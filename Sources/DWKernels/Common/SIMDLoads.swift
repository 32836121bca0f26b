import DWCore

/// Loads and stores of 16 floats at any alignment (`vmovups`).
extension UnsafePointer where Pointee == Float {
    @inline(__always) func load16(_ offset: Int = 0) -> SIMD16<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD16<Float>.self)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    @inline(__always) func load16(_ offset: Int = 0) -> SIMD16<Float> {
        UnsafeRawPointer(self + offset).loadUnaligned(as: SIMD16<Float>.self)
    }
    @inline(__always) func store16(_ v: SIMD16<Float>, _ offset: Int = 0) {
        UnsafeMutableRawPointer(self + offset).storeBytes(of: v, as: SIMD16<Float>.self)
    }
}
