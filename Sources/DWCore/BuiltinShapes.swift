import Foundation

/// Shape sets built into the binary, so `--shapes replknet31b` works without the repository checked out.
/// Each equals the committed file of the same name in Benchmarks/shapes (tested).
extension ShapeFile {
    public static let builtinNames = ["replknet31b", "replknet31b-pointwise"]

    /// A built-in shape set by name.
    public static func builtin(_ name: String) -> ShapeFile? {
        switch name {
        case "replknet31b": return try! ShapeFile(parsing: replknet31bText, source: "replknet31b")
        case "replknet31b-pointwise": return try! ShapeFile(parsing: replknet31bPointwiseText, source: "replknet31b-pointwise")
        default: return nil
        }
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

extension ShapeFile {
    static let replknet31bPointwiseText = """
# RepLKNet-31B: every 1×1 convolution at 224×224, batch 1 (channels 128/256/512/1024, FFN ratio 4).
# In each stage a RepLK block has pw1 (C→C, +ReLU) and pw2 (C→C, +residual); a ConvFFN block has
# pw1 (C→4C, +GELU) and pw2 (4C→C, +residual); stages have 2/2/18/2 of each. Transitions widen with a
# 1×1 (+ReLU). Together 12.9 of the model's 15.35 GMAC.
# Format: layer-name  problem  [count]
stem.2                   n1c128h112w112o128     1
stages.0.large_kernel.pw n1c128h56w56o128       4
stages.0.ffn.pw1         n1c128h56w56o512       2
stages.0.ffn.pw2         n1c512h56w56o128       2
transitions.0.0          n1c128h56w56o256       1
stages.1.large_kernel.pw n1c256h28w28o256       4
stages.1.ffn.pw1         n1c256h28w28o1024      2
stages.1.ffn.pw2         n1c1024h28w28o256      2
transitions.1.0          n1c256h28w28o512       1
stages.2.large_kernel.pw n1c512h14w14o512       36
stages.2.ffn.pw1         n1c512h14w14o2048      18
stages.2.ffn.pw2         n1c2048h14w14o512      18
transitions.2.0          n1c512h14w14o1024      1
stages.3.large_kernel.pw n1c1024h7w7o1024       4
stages.3.ffn.pw1         n1c1024h7w7o4096       2
stages.3.ffn.pw2         n1c4096h7w7o1024       2
"""
}
