import DWCore
import DWKernels
import DWTestSupport
import XCTest

/// Determinism of every registered algorithm of both kinds (`Conformance.invariance` over the registry, so a
/// new algorithm is covered by its registry line).
final class InvarianceTests: XCTestCase {
    func testEveryAlgorithmIsDeterministicAndThreadInvariant() throws {
        let outcome = try Conformance.invariance(Registry.all)
        XCTAssertEqual(outcome.failures, [])
        print("determinism: \(outcome.checked) algorithm × problem pairs, 1/2/3 threads and repeated runs bitwise equal")
    }
}
