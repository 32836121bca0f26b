import DWBench
import DWCore
import DWFormats
import DWTune
import Foundation

/// An accepted gate baseline: finite positive ratios and times, problems that parse, and a file that
/// writes back and reads again to an equal baseline.
func fuzzBaseline(_ data: Data) {
    guard let baseline = try? GateBaseline.decode(data, path: "<fuzz>") else { return }
    for entry in baseline.entries {
        check(!entry.ratios.isEmpty && entry.ratios.allSatisfy { $0.isFinite && $0 > 0 }, "ratios \(entry.ratios) accepted")
        check(entry.median_ratio.isFinite && entry.median_ratio > 0, "median_ratio \(entry.median_ratio) accepted")
    }
    let encoded: Data
    do { encoded = try baseline.encoded() } catch { return check(false, "accepted baseline cannot be written: \(error)") }
    let again: GateBaseline
    do { again = try GateBaseline.decode(encoded, path: "<fuzz>") } catch { return check(false, "written baseline rejected: \(error)") }
    check(again == baseline, "baseline changed on writing and reading back")
}
