import DWCore
import Foundation

/// A named tensor of a checkpoint: its shape (PyTorch's) and float32 values.
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// A RepLKNet state dict in the official key layout (`stem.0.conv.weight`,
/// `stages.0.blocks.0.large_kernel.lkb_origin.conv.weight`, `transitions.0.1.bn.running_var`, `head.bias`, …),
/// in training form (conv + BN everywhere, `lkb_origin` + `small_conv`) or deployed form (`lkb_reparam`).
public struct Checkpoint: Sendable {
    public var tensors: [String: NamedTensor]

    public init(tensors: [String: NamedTensor]) { self.tensors = tensors }

    /// Reads a safetensors file; `num_batches_tracked` entries are skipped. Errors name the tensor.
    public static func load(path: String) throws -> Checkpoint {
        let file = try SafeTensors(path: path)
        var tensors: [String: NamedTensor] = [:]
        for (name, entry) in file.entries where !name.hasSuffix("num_batches_tracked") {
            tensors[name] = NamedTensor(shape: entry.shape, values: try file.floats(name))
        }
        return Checkpoint(tensors: tensors)
    }

    /// Writes the tensors as a float32 safetensors file, atomically.
    public func write(path: String) throws {
        let data = try SafeTensors.encode(tensors.map { ($0.key, $0.value.shape, $0.value.values) })
        try AtomicFile.write(data, to: path)
    }

    /// The tensor `name` with exactly `shape`, or an error naming it.
    func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
        guard let t = tensors[name] else { throw ModelError("checkpoint: missing tensor '\(name)'") }
        guard t.shape == shape else {
            throw ModelError("checkpoint: tensor '\(name)' has shape \(t.shape), the architecture needs \(shape)")
        }
        return t.values
    }

    /// Removes and returns the tensor `name`, which must have exactly `shape` (frees it as it is consumed).
    mutating func take(_ name: String, _ shape: [Int]) throws -> [Float] {
        let values = try tensor(name, shape)
        tensors.removeValue(forKey: name)
        return values
    }

    /// Whether a large-kernel block is stored deployed (`lkb_reparam`) rather than as `lkb_origin` + `small_conv`.
    var isDeployed: Bool { tensors.keys.contains { $0.contains("lkb_reparam") } }

    /// Seeded random weights for `config` in training form, with non-trivial BatchNorm statistics, so that
    /// re-parameterization has something to fuse. Convolutions are scaled by 1/√fan-in (outputs stay O(1)).
    public static func random(_ config: RepLKNetConfig, seed: UInt64 = 2022) -> Checkpoint {
        var rng = SeededGenerator(seed: seed)
        var t: [String: NamedTensor] = [:]
        func conv(_ name: String, _ o: Int, _ i: Int, _ k: Int) {
            let scale = 1 / Float(i * k * k).squareRoot()
            t[name + ".weight"] = NamedTensor(shape: [o, i, k, k], values: rng.signedArray(o * i * k * k).map { $0 * scale * 1.5 })
        }
        func bn(_ name: String, _ c: Int) {
            t[name + ".weight"] = NamedTensor(shape: [c], values: rng.signedArray(c).map { 0.75 + 0.25 * $0 })
            t[name + ".bias"] = NamedTensor(shape: [c], values: rng.signedArray(c).map { 0.1 * $0 })
            t[name + ".running_mean"] = NamedTensor(shape: [c], values: rng.signedArray(c).map { 0.1 * $0 })
            t[name + ".running_var"] = NamedTensor(shape: [c], values: rng.signedArray(c).map { 1 + 0.25 * $0 })
        }
        func convBN(_ name: String, _ o: Int, _ i: Int, _ k: Int) { conv(name + ".conv", o, i, k); bn(name + ".bn", o) }
        let c0 = config.channels[0]
        convBN("stem.0", c0, config.inChannels, 3)
        convBN("stem.1", c0, 1, 3)
        convBN("stem.2", c0, c0, 1)
        convBN("stem.3", c0, 1, 3)
        for s in 0..<config.stages {
            let c = config.channels[s], d = config.dwChannels(s), f = c * config.ffnRatio
            for b in 0..<config.blocks[s] {
                let lk = "stages.\(s).blocks.\(2 * b)", ffn = "stages.\(s).blocks.\(2 * b + 1)"
                bn(lk + ".prelkb_bn", c)
                convBN(lk + ".pw1", d, c, 1)
                convBN(lk + ".large_kernel.lkb_origin", d, 1, config.kernels[s])
                if let sk = config.smallKernel { convBN(lk + ".large_kernel.small_conv", d, 1, sk) }
                convBN(lk + ".pw2", c, d, 1)
                bn(ffn + ".preffn_bn", c)
                convBN(ffn + ".pw1", f, c, 1)
                convBN(ffn + ".pw2", c, f, 1)
            }
            if s + 1 < config.stages {
                let next = config.channels[s + 1]
                convBN("transitions.\(s).0", next, c, 1)
                convBN("transitions.\(s).1", next, 1, 3)
            }
        }
        let last = config.channels[config.stages - 1]
        bn("norm", last)
        t["head.weight"] = NamedTensor(shape: [config.classes, last],
                                       values: rng.signedArray(config.classes * last).map { $0 / Float(last).squareRoot() })
        t["head.bias"] = NamedTensor(shape: [config.classes], values: rng.signedArray(config.classes).map { 0.1 * $0 })
        return Checkpoint(tensors: t)
    }
}

/// A model or checkpoint error: one line naming the tensor or setting.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
