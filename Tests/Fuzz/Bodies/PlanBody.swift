import DWCore
import DWFormats
import DWKernels
import DWTune
import Foundation

/// An accepted plan: every key is a problem's text form naming a registry algorithm, and the plan writes
/// back and reads again to an equal plan.
func fuzzPlan(_ data: Data) {
    let registry = Registry.names
    guard let plan = try? Plan.decode(data, path: "<fuzz>", registry: registry) else { return }
    for (key, entry) in plan.entries {
        check((try? ConvProblem(parsing: key))?.description == key, "key '\(key)' is not a problem text form")
        check(registry.contains(entry.algorithm), "entry \(key) names unknown '\(entry.algorithm)'")
    }
    let encoded: Data
    do { encoded = try plan.encoded() } catch { return check(false, "accepted plan cannot be written: \(error)") }
    let again: Plan
    do { again = try Plan.decode(encoded, path: "<fuzz>", registry: registry) } catch {
        return check(false, "written plan rejected: \(error)")
    }
    check(again == plan, "plan changed on writing and reading back")
}
