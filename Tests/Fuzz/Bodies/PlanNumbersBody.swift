import DWBench
import DWCore
import DWKernels
import DWModel
import DWTune
import Foundation

/// Plan numbers: a valid committed plan whose numeric fields the input overwrites, then the whole read path and
/// every consumer of what it accepts (`usePlan`). JSON syntax is the `plan` target's business; here the fuzzer
/// spends its inputs on values: finite but absurd ones (1e308, Int.max, subnormals, negatives) are what once
/// trapped the library (issue 23: `"margin": 1e308` in `PlanChooser`).
///
/// The input is a sequence of 4-byte records, each overwriting one field (a trailing partial record is ignored):
/// - bytes 0–1: the field, an index (mod the field count) into `PlanNumbers.fields`, in a fixed order;
/// - byte 2: how the value is made: 0 an entry of `PlanNumbers.table` picked by byte 3; 1 byte 3 as a signed
///   small integer; 2 and 3 the 8 bytes that follow, as the bit pattern of a Double (2) or an Int64 (3), the
///   record then being 12 bytes long. Other values are read mod 4.
/// A Double field given an integer takes its value; an Int field given a Double takes it if an Int holds it
/// exactly, and its bit pattern otherwise. A record whose value JSON cannot say (NaN, ±inf) is skipped: no file
/// holds one (1e400 is the `plan` target's: a syntax error to this reader).
func fuzzPlanNumbers(_ data: Data) {
    var plan = PlanNumbers.base
    let bytes = [UInt8](data)
    var at = 0
    while at + 4 <= bytes.count {
        let field = PlanNumbers.fields[(Int(bytes[at]) << 8 | Int(bytes[at + 1])) % PlanNumbers.fields.count]
        let value: PlanNumbers.Value
        switch bytes[at + 2] % 4 {
        case 0: value = PlanNumbers.table[Int(bytes[at + 3]) % PlanNumbers.table.count]; at += 4
        case 1: value = .int(Int(Int8(bitPattern: bytes[at + 3]))); at += 4
        default:
            guard at + 12 <= bytes.count else { at = bytes.count; continue }
            let bits = bytes[at + 4 ..< at + 12].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            value = bytes[at + 2] % 4 == 2 ? .double(Double(bitPattern: bits)) : .int(Int(Int64(bitPattern: bits)))
            at += 12
        }
        if case let .double(d) = value, !d.isFinite { continue }
        field.set(&plan, value)
    }
    let encoded: Data
    do { encoded = try plan.encoded() } catch { return check(false, "a plan with finite numbers cannot be encoded: \(error)") }
    readPlanAndUseIt(encoded)
}

enum PlanNumbers {
    enum Value: Sendable {
        case double(Double)
        case int(Int)

        var double: Double {
            switch self {
            case let .double(d): return d
            case let .int(i): return Double(i)
            }
        }

        var int: Int {
            switch self {
            case let .double(d): return Int(exactly: d) ?? Int(truncatingIfNeeded: d.bitPattern)
            case let .int(i): return i
            }
        }
    }

    /// The committed plan every input starts from: version 2, both problem kinds, bf16 entries and peak,
    /// measured and dropped candidates.
    static let base: Plan = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("Results/plan-replknet31b-model-bf16-1t-b1.json").path
        do { return try Plan.load(path: path, registry: Registry.names) } catch {
            FileHandle.standardError.write(Data("plannumbers: the base plan does not read: \(error)\n".utf8))
            fatalError("plannumbers: no base plan")
        }
    }()

    /// Values at and around every limit, and the extremes of both types.
    static let table: [Value] = [
        .double(0), .double(-0.0), .double(1), .double(-1), .double(0.5), .double(-0.96), .double(1e6), .double(1e6.nextUp),
        .double(1e9), .double(1e9.nextUp), .double(1e17), .double(1e308), .double(-1e308), .double(.greatestFiniteMagnitude),
        .double(.leastNonzeroMagnitude), .double(.leastNormalMagnitude), .double(-.leastNonzeroMagnitude), .double(9.223372036854775807e18),
        .double(1e-300), .double(256.5), .int(0), .int(1), .int(-1), .int(15), .int(16), .int(255), .int(256), .int(257),
        .int(0xFFFF), .int(0x10000), .int(1 << 20), .int(1 << 20 + 1), .int(1 << 50), .int(1 << 50 + 1), .int(Int.max), .int(Int.min),
        .int(Int(Int32.max)), .int(Int(Int32.min)),
    ]

    struct Field: Sendable {
        let name: String
        let set: @Sendable (inout Plan, Value) -> Void
    }

    /// Every number of the base plan, in a fixed order: the header's, then each entry's (keys sorted) with its
    /// candidates' (an absent median or spread is added).
    static let fields: [Field] = {
        var f: [Field] = [
            Field(name: "threads") { $0.threads = $1.int },
            Field(name: "machine.cores") { $0.machine.cores = $1.int },
            Field(name: "machine.numaNodes") { $0.machine.numaNodes = $1.int },
            Field(name: "machine.family") { $0.machine.family = $1.int },
            Field(name: "machine.model") { $0.machine.model = $1.int },
            Field(name: "machine.stepping") { $0.machine.stepping = $1.int },
            Field(name: "calibration.peak_gflops") { $0.calibration.peak_gflops = $1.double },
            Field(name: "calibration.bf16_peak_gflops") { $0.calibration.bf16_peak_gflops = $1.double },
            Field(name: "calibration.bandwidth_gbs") { $0.calibration.bandwidth_gbs = $1.double },
        ]
        for i in base.machine.caches.indices {
            f += [Field(name: "machine.caches.\(i).level") { $0.machine.caches[i].level = $1.int },
                  Field(name: "machine.caches.\(i).bytes") { $0.machine.caches[i].bytes = $1.int },
                  Field(name: "machine.caches.\(i).sharedBy") { $0.machine.caches[i].sharedBy = $1.int }]
        }
        for name in base.calibration.efficiency.keys.sorted() {
            f.append(Field(name: "calibration.efficiency.\(name)") { $0.calibration.efficiency[name] = $1.double })
        }
        for name in base.calibration.memory_efficiency.keys.sorted() {
            f.append(Field(name: "calibration.memory_efficiency.\(name)") { $0.calibration.memory_efficiency[name] = $1.double })
        }
        for key in base.entries.keys.sorted() {
            f += [Field(name: "entries.\(key).threads") { $0.entries[key]!.threads = $1.int },
                  Field(name: "entries.\(key).margin") { $0.entries[key]!.margin = $1.double }]
            for c in base.entries[key]!.candidates.indices {
                f += [Field(name: "entries.\(key).candidates.\(c).median_ms") { $0.entries[key]!.candidates[c].median_ms = $1.double },
                      Field(name: "entries.\(key).candidates.\(c).spread") { $0.entries[key]!.candidates[c].spread = $1.double }]
            }
        }
        return f
    }()
}
