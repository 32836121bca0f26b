import DWBench
import DWCore
import DWFormats
import DWKernels
import DWModel
import DWTune
import Foundation

/// An accepted plan: every key is a problem's text form naming a registry algorithm, and the plan writes
/// back and reads again to an equal plan; then every consumer of plans runs on it (`usePlan`).
func fuzzPlan(_ data: Data) {
    readPlanAndUseIt(data)
}

/// The read path (`Plan.decode`) and, for a plan it accepts, the promises above and the consumers.
func readPlanAndUseIt(_ data: Data) {
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
    usePlan(plan)
}

/// What the library, the CLI and the model do with an accepted plan, none of which may trap on its numbers:
/// each entry's choice with its source text under every layout policy (`Planner`: `.any` as `conv --plan` uses it,
/// `.only(.nchw16c)` as `replknet` does, `.convertingFrom(.nchw)` as libdwconv does), `plan show` and
/// `plan explain`, and the estimate mode on its calibration
/// (`tune --calibration`), whose plan must be one its reader accepts.
func usePlan(_ plan: Plan) {
    let planner = Planner(plan: plan)
    _ = PlanText.show(plan, file: "<fuzz>")
    var problems: [ConvProblem] = []
    for key in plan.entries.keys.sorted() {
        guard let problem = try? ConvProblem(parsing: key) else { continue }
        problems.append(problem)
        for policy: Planner.LayoutPolicy in [.any, .only(.nchw16c), .convertingFrom(.nchw, residual: true)] {
            _ = (try? planner.choose(problem, layout: policy))?.sourceText
        }
        _ = PlanText.explain(plan.entries[key]!, problem: problem)
    }
    // (Two problems, one of each kind in a committed plan: the estimate mode costs a fingerprint and a prediction per
    // candidate, and the calibration, not the problem, is what varies.)
    var tuner = Tuner(executor: InlineExecutor(), mode: .estimate, model: CostModel(calibration: plan.calibration))
    tuner.threads = plan.threads
    let estimated = tuner.tune(Array(problems.prefix(2)))
    check(estimated.schemaViolation() == nil, "estimate mode on an accepted calibration wrote an invalid plan: \(estimated.schemaViolation() ?? "")")
}
