import Foundation

/// Shape sets built into the binary, so `--shapes replknet31b` works without the repository checked out.
/// Each is the committed file of the same name in Benchmarks/shapes, copied into `BuiltinShapeTexts.swift` by
/// `Benchmarks/shapes/builtin_sets.py` (generated; CI checks it is current).
extension ShapeFile {
    /// A built-in shape set by name.
    public static func builtin(_ name: String) -> ShapeFile? {
        builtinTexts[name].map { try! ShapeFile(parsing: $0, source: name) }
    }

    /// Resolves a `--shapes` argument: a built-in name, a shape-file path, or comma-separated problems; a
    /// built-in name or file followed by `.bf16` (`replknet31b-pointwise.bf16`) is that set with its pointwise
    /// problems allowing bf16.
    public static func resolve(_ spec: String) throws -> ShapeFile {
        if let builtin = builtin(spec) { return builtin }
        let suffix = "." + Precision.bf16.rawValue
        if spec.hasSuffix(suffix), spec.count > suffix.count {
            let base = String(spec.dropLast(suffix.count))
            if builtin(base) != nil || FileManager.default.fileExists(atPath: base) {
                let set = try resolve(base)
                return ShapeFile(entries: set.entries.map { Entry(name: $0.name, problem: $0.problem.with(precision: .bf16), count: $0.count) })
            }
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory), !isDirectory.boolValue {
            return try load(path: spec)
        }
        if spec.contains("/") || spec.hasSuffix(".txt") { throw ShapeFileError("\(spec): no such shape file") }
        let entries = try spec.split(separator: ",").map { text -> Entry in
            do { return Entry(name: String(text), problem: try ConvProblem(parsing: String(text))) } catch {
                throw ShapeFileError("\(error)")
            }
        }
        guard !entries.isEmpty else { throw ShapeFileError("--shapes: empty list") }
        return ShapeFile(entries: entries)
    }
}
