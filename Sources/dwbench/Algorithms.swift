import DWBench
import ArgumentParser
import DWKernels

struct Algorithms: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the registered algorithms (depthwise, then pointwise), one name per line.")

    @Flag(name: .shortAndLong, help: "Also print each algorithm's layout and a summary.")
    var verbose = false

    func run() {
        for a in Registry.all {
            if verbose {
                print("\(a.name.padding(toLength: 26, withPad: " ", startingAt: 0)) \(a.kind.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)) \(a.layout.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(a.summary)")
            } else {
                print(a.name)
            }
        }
    }
}
