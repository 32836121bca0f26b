import DWCore
import DWFormats
import Foundation

/// An accepted pickle: decoding terminates within the nesting limit, every persistent ID reached the hook,
/// and a walk over the value (memo-shared containers visited once) finds no container deeper than the
/// limit. Globals are resolved by a hook that, like the torch reader's, gives meaning to `OrderedDict` only
/// and leaves everything else opaque; nothing is ever called.
func fuzzPickle(_ data: Data) {
    let bytes = MappedBytes(data: data)
    var persistentIDs = 0
    let value: PickleValue
    do {
        value = try Unpickler.load(bytes, range: 0..<bytes.count, what: "<fuzz>", reduce: { module, name, args in
            guard module == "collections", name == "OrderedDict", args.isEmpty else { return nil }
            return .dict(PickleDict())
        }, persistentLoad: { _ in
            persistentIDs += 1
            return .none
        })
    } catch {
        return check(!"\(error)".contains("\n"), "error is not one line: \(error)")
    }
    var seen = Set<ObjectIdentifier>()
    func walk(_ v: PickleValue, _ depth: Int) {
        check(depth <= Unpickler.maxDepth + 1, "accepted value nests \(depth) levels")
        let children: [PickleValue]
        switch v {
        case .tuple(let c), .list(let c), .set(let c):
            guard seen.insert(ObjectIdentifier(c)).inserted else { return }
            children = c.items
        case .dict(let d):
            guard seen.insert(ObjectIdentifier(d)).inserted else { return }
            children = d.entries.flatMap { [$0.key, $0.value] }
        case .object(let o):
            guard seen.insert(ObjectIdentifier(o)).inserted else { return }
            children = o.arguments + (o.state.map { [$0] } ?? [])
        default:
            children = []
        }
        for c in children { walk(c, depth + 1) }
    }
    walk(value, 1)
    check(persistentIDs <= data.count, "more persistent IDs than bytes")
}
