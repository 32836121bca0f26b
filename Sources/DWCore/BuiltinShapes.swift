import Foundation

/// Shape sets built into the binary, so `--shapes replknet31b` works without the repository checked out.
/// Each equals the committed file of the same name in Benchmarks/shapes (tested).
extension ShapeFile {
    public static let builtinNames = ["replknet31b"]

    /// A built-in shape set by name.
    public static func builtin(_ name: String) -> ShapeFile? {
        switch name {
        case "replknet31b": return try! ShapeFile(parsing: replknet31bText, source: "replknet31b")
        default: return nil
        }
    }

    /// Resolves a `--shapes` argument: a built-in name, a shape-file path, or comma-separated problems.
    public static func resolve(_ spec: String) throws -> ShapeFile {
        if let builtin = builtin(spec) { return builtin }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: spec, isDirectory: &isDirectory), !isDirectory.boolValue {
            return try load(path: spec)
        }
        if spec.contains("/") || spec.hasSuffix(".txt") { throw ShapeFileError("\(spec): no such shape file") }
        let entries = try spec.split(separator: ",").map { text -> Entry in
            do { return Entry(name: String(text), problem: try Problem(parsing: String(text))) } catch {
                throw ShapeFileError("\(error)")
            }
        }
        guard !entries.isEmpty else { throw ShapeFileError("--shapes: empty list") }
        return ShapeFile(entries: entries)
    }

    static let replknet31bText = """
# RepLKNet-31B: every depthwise layer at 224×224, batch 1, deployed form (each 5×5 branch is merged into
# its large kernel by re-parameterization). Stem and transition layers are the stride-2 and 3×3 ones.
# Format: layer-name  problem  [count]   (count = how many layers of the model have this problem)
stem.1                   n1c128h112w112k3s1p1    1
stem.3                   n1c128h112w112k3s2p1    1
stages.0.large_kernel    n1c128h56w56k31s1p15    2
transitions.0.1          n1c256h56w56k3s2p1      1
stages.1.large_kernel    n1c256h28w28k29s1p14    2
transitions.1.1          n1c512h28w28k3s2p1      1
stages.2.large_kernel    n1c512h14w14k27s1p13    18
transitions.2.1          n1c1024h14w14k3s2p1     1
stages.3.large_kernel    n1c1024h7w7k13s1p6      2
"""
}
