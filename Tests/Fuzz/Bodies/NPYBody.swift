import DWCore
import DWFormats
import Foundation

/// An accepted `.npy` array has as many values as its shape says, and its encoding reads back bit for bit.
func fuzzNPY(_ data: Data) {
    guard let array = try? NPYArray.parse(data) else { return }
    check(array.shape.reduce(1, *) == array.values.count, "shape \(array.shape) vs \(array.values.count) values")
    let again: NPYArray
    do { again = try NPYArray.parse(array.encoded()) } catch { return check(false, "re-encoded array rejected: \(error)") }
    check(again.shape == array.shape, "shape changed on re-encoding: \(array.shape) → \(again.shape)")
    check(again.values.map(\.bitPattern) == array.values.map(\.bitPattern), "values changed on re-encoding")
}
