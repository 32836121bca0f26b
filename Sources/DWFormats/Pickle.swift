import DWCore
import Foundation

/// A value decoded by `Unpickler`. Nothing in a pickle is ever executed: a class or function the pickle
/// names is a `.global`, and calling one yields either what the caller's `reduce` hook builds for the few
/// it knows (tensors, ordered dicts) or an opaque `.object` that records the call and is never run.
public enum PickleValue: @unchecked Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer beyond 64 bits (kept opaque: a checkpoint's structure never needs one).
    case bigInt
    case float(Double)
    case string(String)
    case bytes(Data)
    case tuple(PickleContainer)
    case list(PickleContainer)
    case set(PickleContainer)
    case dict(PickleDict)
    /// A reference to `module.name` (a class or function), not resolved.
    case global(module: String, name: String)
    /// The result of calling, or instantiating, something that is not built in: never run.
    case object(PickleObject)
    /// A storage record returned by the persistent-load hook.
    case storage(PickleStorage)
    /// A tensor built by the reduce hook.
    case tensor(StoredTensor)

    /// Nesting depth: 0 for scalars, 1 + the deepest child for containers.
    var depth: Int {
        switch self {
        case .tuple(let c), .list(let c), .set(let c): return c.depth
        case .dict(let d): return d.depth
        case .object(let o): return o.depth
        default: return 0
        }
    }

    /// The container object, for identity checks.
    var identity: AnyObject? {
        switch self {
        case .tuple(let c), .list(let c), .set(let c): return c
        case .dict(let d): return d
        case .object(let o): return o
        default: return nil
        }
    }

    /// Marks a container as nested inside another: from then on it may not change, so depths stay exact
    /// and no container can come to contain itself.
    func seal() {
        switch self {
        case .tuple(let c), .list(let c), .set(let c): c.sealed = true
        case .dict(let d): d.sealed = true
        case .object(let o): o.sealed = true
        default: break
        }
    }

    /// What kind of value this is, for messages ("a tensor", "an int", "an argparse.Namespace object", …).
    public var kindDescription: String {
        switch self {
        case .none: return "None"
        case .bool: return "a bool"
        case .int, .bigInt: return "an int"
        case .float: return "a float"
        case .string: return "a string"
        case .bytes: return "bytes"
        case .tuple: return "a tuple"
        case .list: return "a list"
        case .set: return "a set"
        case .dict: return "a dict"
        case .global(let m, let n): return "a reference to \(m).\(n)"
        case .object(let o): return "a \(o.className) object"
        case .storage: return "a storage"
        case .tensor: return "a tensor"
        }
    }

    /// The dict's value for a string key, if this is a dict that has it.
    public subscript(key: String) -> PickleValue? {
        if case .dict(let d) = self { return d[key] }
        return nil
    }
}

/// A tuple, list or set (reference semantics, as in Python, so the memo shares them).
public final class PickleContainer: @unchecked Sendable {
    public internal(set) var items: [PickleValue]
    var depth = 1
    var sealed = false
    init(_ items: [PickleValue] = []) { self.items = items }
}

/// A dict or `collections.OrderedDict`, in insertion order.
public final class PickleDict: @unchecked Sendable {
    public internal(set) var entries: [(key: PickleValue, value: PickleValue)] = []
    private var stringIndex: [String: Int] = [:]
    var depth = 1
    var sealed = false

    public init() {}

    /// The value of the string key `key`.
    public subscript(key: String) -> PickleValue? { stringIndex[key].map { entries[$0].value } }

    /// The string keys, in order.
    public var stringKeys: [String] { entries.compactMap { if case .string(let k) = $0.key { return k } else { return nil } } }

    /// Sets `key` (a hook building a new dict may fill it; the unpickler refuses changes once it is nested).
    public func set(_ key: PickleValue, _ value: PickleValue) {
        if case .string(let k) = key {
            if let i = stringIndex[k] { entries[i].value = value; return }
            stringIndex[k] = entries.count
        }
        entries.append((key, value))
    }
}

/// Something a pickle instantiates or calls that is not built in (an `argparse.Namespace`, an optimizer
/// class, …): its class name, arguments and state are kept for messages; nothing is run.
public final class PickleObject: @unchecked Sendable {
    public let className: String
    public internal(set) var arguments: [PickleValue]
    public internal(set) var state: PickleValue?
    var depth = 1
    var sealed = false
    init(className: String, arguments: [PickleValue]) { self.className = className; self.arguments = arguments }
}

/// A storage named by a persistent ID (for torch: a member of the archive), resolved by the caller.
public struct PickleStorage: Sendable {
    /// `torch.FloatStorage` and the like.
    public let typeName: String
    public let dtype: TensorDType?
    public let bytes: MappedBytes
    /// Byte range of the storage within `bytes`.
    public let range: Range<Int>
    /// Elements the storage holds.
    public var count: Int { dtype.map { range.count / $0.size } ?? 0 }
    public init(typeName: String, dtype: TensorDType?, bytes: MappedBytes, range: Range<Int>) {
        self.typeName = typeName
        self.dtype = dtype
        self.bytes = bytes
        self.range = range
    }
}

/// A restricted unpickler: Python's pickle virtual machine for protocols 0 to 5 (everything `torch.save`
/// emits, and the opcodes of the other protocols), which builds values and never executes anything.
///
/// - GLOBAL and STACK_GLOBAL push a `.global` reference. REDUCE, NEWOBJ, NEWOBJ_EX, INST and OBJ ask the
///   caller's `reduce` hook, which builds a value for the globals it allows (`nil` otherwise); anything else
///   becomes an opaque `.object` that is never called. BUILD only records state.
/// - Persistent IDs (PERSID, BINPERSID) go to the `persistentLoad` hook.
/// - Out-of-band buffers and the extension registry are refused.
/// - Nesting is limited to `maxDepth`, and a container may not change once it is nested in another (which
///   no pickler emits), so a pickle can neither nest a million levels deep nor build a cycle. Every length
///   is checked against the bytes that remain, so a corrupt length fails at once instead of allocating.
public enum Unpickler {
    public static let maxDepth = 200

    public typealias Reduce = (_ module: String, _ name: String, _ arguments: [PickleValue]) throws -> PickleValue?
    public typealias PersistentLoad = (_ id: PickleValue) throws -> PickleValue

    public static func load(_ bytes: MappedBytes, range: Range<Int>, what: String,
                            reduce: Reduce, persistentLoad: PersistentLoad) throws -> PickleValue {
        try withoutActuallyEscaping(reduce) { reduce in
            try withoutActuallyEscaping(persistentLoad) { persistentLoad in
                var machine = Machine(bytes: bytes, position: range.lowerBound, end: range.upperBound, what: what,
                                      reduce: reduce, persistentLoad: persistentLoad)
                return try machine.run()
            }
        }
    }

    private struct Machine {
        let bytes: MappedBytes
        var position: Int
        let end: Int
        let what: String
        let reduce: Reduce
        let persistentLoad: PersistentLoad
        var stack: [PickleValue] = []
        var marks: [Int] = []
        var memo: [Int: PickleValue] = [:]
        var opcodeStart = 0

        func fail(_ why: String) -> CheckpointFormatError {
            CheckpointFormatError(what, "pickle \(why) (at byte \(opcodeStart))")
        }

        mutating func byte() throws -> UInt8 {
            guard position < end else { throw fail("ends before its STOP opcode (truncated)") }
            defer { position += 1 }
            return bytes[position]
        }

        mutating func take(_ n: Int) throws -> Range<Int> {
            guard n >= 0, n <= end - position else { throw fail("declares \(n) bytes, only \(end - position) remain") }
            defer { position += n }
            return position ..< position + n
        }

        mutating func uint(_ n: Int) throws -> Int {
            let r = try take(n)
            var v: UInt64 = 0
            for i in r.reversed() { v = v << 8 | UInt64(bytes[i]) }
            guard v <= UInt64(Int.max) else { throw fail("declares a length of \(v) bytes") }
            return Int(v)
        }

        mutating func line() throws -> String {
            var i = position
            while i < end, bytes[i] != 0x0A { i += 1 }
            guard i < end else { throw fail("has an unterminated text argument") }
            defer { position = i + 1 }
            return String(decoding: bytes.data(position ..< i), as: UTF8.self)
        }

        mutating func text(_ n: Int) throws -> String {
            let r = try take(n)
            guard let s = String(bytes: bytes.data(r), encoding: .utf8) else { throw fail("has a string that is not UTF-8") }
            return s
        }

        mutating func pop() throws -> PickleValue {
            guard let v = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw fail("pops an empty stack") }
            return v
        }

        /// The items above the topmost mark, removing them and the mark.
        mutating func popMark() throws -> [PickleValue] {
            guard let m = marks.popLast(), m <= stack.count else { throw fail("has no MARK to pop to") }
            let items = Array(stack[m...])
            stack.removeSubrange(m...)
            return items
        }

        mutating func top() throws -> PickleValue {
            guard let v = stack.last, stack.count > (marks.last ?? 0) else { throw fail("reads an empty stack") }
            return v
        }

        /// Depth of a container holding `items` (at `depth` so far); seals them. `target` is the container they
        /// go into, which none of them may be.
        func nest(_ items: [PickleValue], into depth: Int, target: AnyObject? = nil) throws -> Int {
            var d = depth
            for item in items {
                if let target, item.identity === target { throw fail("puts a container inside itself") }
                item.seal()
                d = Swift.max(d, item.depth + 1)
            }
            guard d <= Unpickler.maxDepth else { throw fail("nests deeper than \(Unpickler.maxDepth) levels") }
            return d
        }

        mutating func tuple(_ items: [PickleValue]) throws -> PickleValue {
            let c = PickleContainer(items)
            c.depth = try nest(items, into: 1)
            c.sealed = true
            return .tuple(c)
        }

        mutating func append(_ items: [PickleValue]) throws {
            let target = try top()
            switch target {
            case .list(let c), .set(let c):
                guard !c.sealed else { throw fail("changes a list after nesting it") }
                c.depth = try nest(items, into: c.depth, target: c)
                c.items += items
            case .object(let o):
                // list subclasses append through their own method: recorded, not run.
                guard !o.sealed else { throw fail("changes an object after nesting it") }
                o.depth = try nest(items, into: o.depth, target: o)
                o.arguments += items
            default:
                throw fail("appends to \(target.kindDescription)")
            }
        }

        mutating func setItems(_ items: [PickleValue]) throws {
            guard items.count % 2 == 0 else { throw fail("sets items from an odd number of values") }
            let target = try top()
            switch target {
            case .dict(let d):
                guard !d.sealed else { throw fail("changes a dict after nesting it") }
                d.depth = try nest(items, into: d.depth, target: d)
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case .object(let o):
                guard !o.sealed else { throw fail("changes an object after nesting it") }
                o.depth = try nest(items, into: o.depth, target: o)
                o.arguments += items
            default:
                throw fail("sets items of \(target.kindDescription)")
            }
        }

        /// Calls (in name only) `callable` with `arguments`.
        mutating func call(_ callable: PickleValue, _ arguments: [PickleValue]) throws -> PickleValue {
            let depth = try nest(arguments, into: 1)
            if case .global(let module, let name) = callable {
                if let value = try reduce(module, name, arguments) { return value }
                let o = PickleObject(className: "\(module).\(name)", arguments: arguments)
                o.depth = depth
                return .object(o)
            }
            let o = PickleObject(className: "(\(callable.kindDescription))", arguments: arguments)
            o.depth = depth
            return .object(o)
        }

        mutating func arguments(_ v: PickleValue) throws -> [PickleValue] {
            guard case .tuple(let c) = v else { throw fail("calls with \(v.kindDescription) as arguments, not a tuple") }
            return c.items
        }

        mutating func int(fromText text: String) throws -> PickleValue {
            let t = text.hasSuffix("L") ? String(text.dropLast()) : text
            if t == "00" { return .bool(false) }
            if t == "01" { return .bool(true) }
            if let v = Int(t) { return .int(v) }
            guard !t.isEmpty, t.drop(while: { $0 == "-" || $0 == "+" }).allSatisfy(\.isNumber) else { throw fail("has a malformed integer '\(text)'") }
            return .bigInt
        }

        /// Little-endian two's complement of `n` bytes (LONG1, LONG4).
        mutating func long(_ n: Int) throws -> PickleValue {
            let r = try take(n)
            if n == 0 { return .int(0) }
            guard n <= 8 else { return .bigInt }
            var v: UInt64 = 0
            for i in r.reversed() { v = v << 8 | UInt64(bytes[i]) }
            if n < 8, bytes[r.upperBound - 1] & 0x80 != 0 { v |= ~0 << (8 * UInt64(n)) }
            return .int(Int(truncatingIfNeeded: v))
        }

        mutating func run() throws -> PickleValue {
            while true {
                opcodeStart = position
                let op = try byte()
                switch op {
                case 0x80: _ = try byte()                                  // PROTO
                case 0x95: _ = try take(8)                                 // FRAME
                case 0x28: marks.append(stack.count)                       // MARK
                case 0x2E:                                                 // STOP
                    guard stack.count == 1, marks.isEmpty else { throw fail("stops with \(stack.count) values on its stack") }
                    return stack[0]
                case 0x30: _ = try pop()                                   // POP
                case 0x31: _ = try popMark()                               // POP_MARK
                case 0x32: stack.append(try top())                         // DUP
                case 0x4E: stack.append(.none)                             // NONE
                case 0x88: stack.append(.bool(true))                       // NEWTRUE
                case 0x89: stack.append(.bool(false))                      // NEWFALSE
                case 0x4A:                                                 // BININT
                    let v = try uint(4)
                    stack.append(.int(Int(Int32(truncatingIfNeeded: v))))
                case 0x4B: stack.append(.int(Int(try byte())))             // BININT1
                case 0x4D: stack.append(.int(try uint(2)))                 // BININT2
                case 0x49: stack.append(try int(fromText: try line()))     // INT
                case 0x4C: stack.append(try int(fromText: try line()))     // LONG
                case 0x8A: stack.append(try long(Int(try byte())))         // LONG1
                case 0x8B: stack.append(try long(try uint(4)))             // LONG4
                case 0x46:                                                 // FLOAT
                    let t = try line()
                    guard let v = Double(t) else { throw fail("has a malformed float '\(t)'") }
                    stack.append(.float(v))
                case 0x47:                                                 // BINFLOAT (big-endian)
                    let r = try take(8)
                    var bits: UInt64 = 0
                    for i in r { bits = bits << 8 | UInt64(bytes[i]) }
                    stack.append(.float(Double(bitPattern: bits)))
                case 0x58: stack.append(.string(try text(try uint(4))))    // BINUNICODE
                case 0x8C: stack.append(.string(try text(Int(try byte())))) // SHORT_BINUNICODE
                case 0x8D: stack.append(.string(try text(try uint(8))))    // BINUNICODE8
                case 0x56: stack.append(.string(try line()))               // UNICODE (raw-unicode-escape, ASCII subset)
                case 0x54: stack.append(.string(try text(try uint(4))))    // BINSTRING
                case 0x55: stack.append(.string(try text(Int(try byte())))) // SHORT_BINSTRING
                case 0x53:                                                 // STRING (a quoted repr)
                    var t = try line()
                    guard t.count >= 2, let q = t.first, q == "'" || q == "\"", t.last == q else { throw fail("has a malformed STRING argument") }
                    t = String(t.dropFirst().dropLast())
                    stack.append(.string(t))
                case 0x42: stack.append(.bytes(bytes.data(try take(try uint(4)))))   // BINBYTES
                case 0x43: stack.append(.bytes(bytes.data(try take(Int(try byte()))))) // SHORT_BINBYTES
                case 0x8E: stack.append(.bytes(bytes.data(try take(try uint(8)))))   // BINBYTES8
                case 0x96: stack.append(.bytes(bytes.data(try take(try uint(8)))))   // BYTEARRAY8
                case 0x29: stack.append(try tuple([]))                     // EMPTY_TUPLE
                case 0x74: stack.append(try tuple(try popMark()))          // TUPLE
                case 0x85: stack.append(try tuple([try pop()]))            // TUPLE1
                case 0x86:                                                 // TUPLE2
                    let b = try pop(), a = try pop()
                    stack.append(try tuple([a, b]))
                case 0x87:                                                 // TUPLE3
                    let c = try pop(), b = try pop(), a = try pop()
                    stack.append(try tuple([a, b, c]))
                case 0x5D: stack.append(.list(PickleContainer()))          // EMPTY_LIST
                case 0x6C:                                                 // LIST
                    let items = try popMark()
                    let c = PickleContainer(items)
                    c.depth = try nest(items, into: 1)
                    stack.append(.list(c))
                case 0x61: try append([try pop()])                         // APPEND
                case 0x65: let items = try popMark(); try append(items)   // APPENDS
                case 0x8F: stack.append(.set(PickleContainer()))           // EMPTY_SET
                case 0x90: let items = try popMark(); try append(items)   // ADDITEMS
                case 0x91:                                                 // FROZENSET
                    let items = try popMark()
                    let c = PickleContainer(items)
                    c.depth = try nest(items, into: 1)
                    c.sealed = true
                    stack.append(.set(c))
                case 0x7D: stack.append(.dict(PickleDict()))               // EMPTY_DICT
                case 0x64:                                                 // DICT
                    let items = try popMark()
                    stack.append(.dict(PickleDict()))
                    try setItems(items)
                case 0x73:                                                 // SETITEM
                    let v = try pop(), k = try pop()
                    try setItems([k, v])
                case 0x75: let items = try popMark(); try setItems(items) // SETITEMS
                case 0x63:                                                 // GLOBAL
                    let module = try line(), name = try line()
                    stack.append(.global(module: module, name: name))
                case 0x93:                                                 // STACK_GLOBAL
                    let name = try pop(), module = try pop()
                    guard case .string(let m) = module, case .string(let n) = name else { throw fail("names a global with non-strings") }
                    stack.append(.global(module: m, name: n))
                case 0x52:                                                 // REDUCE
                    let args = try arguments(try pop())
                    let callable = try pop()
                    stack.append(try call(callable, args))
                case 0x81:                                                 // NEWOBJ
                    let args = try arguments(try pop())
                    let cls = try pop()
                    stack.append(try call(cls, args))
                case 0x92:                                                 // NEWOBJ_EX
                    let kwargs = try pop()
                    let args = try arguments(try pop())
                    let cls = try pop()
                    stack.append(try call(cls, args + [kwargs]))
                case 0x69:                                                 // INST
                    let module = try line(), name = try line()
                    let args = try popMark()
                    stack.append(try call(.global(module: module, name: name), args))
                case 0x6F:                                                 // OBJ
                    var items = try popMark()
                    guard !items.isEmpty else { throw fail("has OBJ without a class") }
                    let cls = items.removeFirst()
                    stack.append(try call(cls, items))
                case 0x62:                                                 // BUILD
                    let state = try pop()
                    let target = try top()
                    if case .object(let o) = target {
                        guard !o.sealed else { throw fail("changes an object after nesting it") }
                        o.depth = try nest([state], into: o.depth, target: o)
                        o.state = state
                    } else {
                        // A dict's attributes (an OrderedDict's `_metadata`) or a tensor's state: not needed.
                        _ = try nest([state], into: 1)
                    }
                case 0x51:                                                 // BINPERSID
                    stack.append(try persistentLoad(try pop()))
                case 0x50:                                                 // PERSID
                    stack.append(try persistentLoad(.string(try line())))
                case 0x71: memo[Int(try byte())] = try top()               // BINPUT
                case 0x72: memo[try uint(4)] = try top()                   // LONG_BINPUT
                case 0x70:                                                 // PUT
                    let t = try line()
                    guard let i = Int(t) else { throw fail("has a malformed memo index '\(t)'") }
                    memo[i] = try top()
                case 0x94: memo[memo.count] = try top()                    // MEMOIZE
                case 0x68, 0x6A, 0x67:                                     // BINGET, LONG_BINGET, GET
                    let i: Int
                    if op == 0x68 { i = Int(try byte()) } else if op == 0x6A { i = try uint(4) } else {
                        let t = try line()
                        guard let v = Int(t) else { throw fail("has a malformed memo index '\(t)'") }
                        i = v
                    }
                    guard let v = memo[i] else { throw fail("reads memo entry \(i), which was never stored") }
                    stack.append(v)
                case 0x82, 0x83, 0x84: throw fail("uses the copyreg extension registry (EXT opcodes), which dwbench does not read")
                case 0x97, 0x98: throw fail("uses out-of-band buffers (protocol 5 NEXT_BUFFER), which dwbench does not read")
                default: throw fail("has an unknown opcode 0x\(String(op, radix: 16))")
                }
            }
        }
    }
}
