import DWCore
import DWFormats
import Foundation

/// A named tensor of a checkpoint: its shape (PyTorch's) and its values, either in memory as float32 or
/// still in the checkpoint file (read, and converted to float32, when the model takes it).
public struct NamedTensor: Sendable, Equatable {
    public var shape: [Int]
    private var storage: Storage

    private enum Storage: Sendable {
        case floats([Float])
        case stored(StoredTensor)
    }

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not match \(values.count) values")
        self.shape = shape
        storage = .floats(values)
    }

    public init(_ stored: StoredTensor) {
        shape = stored.shape
        storage = .stored(stored)
    }

    /// The element type as stored (F32 for tensors made in memory).
    public var dtype: TensorDType {
        if case .stored(let t) = storage { return t.dtype }
        return .f32
    }

    /// The values as float32; a stored tensor of a type that is not a weight type is refused, naming it.
    public func floats(name: String) throws -> [Float] {
        switch storage {
        case .floats(let v): return v
        case .stored(let t):
            do { return try t.floats(name: name) } catch { throw ModelError("checkpoint: \(error)") }
        }
    }

    /// Whether the values are used in place in the mapped file (contiguous little-endian F32).
    public var isZeroCopy: Bool {
        if case .stored(let t) = storage { return t.isZeroCopy }
        return false
    }

    /// Calls `body` with the values as float32, in place in the mapped file where the layout allows
    /// (contiguous little-endian F32), else converted.
    public func withFloats<R>(name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        switch storage {
        case .floats(let v): return try v.withUnsafeBufferPointer(body)
        case .stored(let t):
            do { return try t.withFloats(name: name, body) } catch let e as CheckpointFormatError { throw ModelError("checkpoint: \(e)") }
        }
    }

    /// Gives back the resident pages of a tensor read from a mapped file (after its values were copied).
    func releasePages() {
        if case .stored(let t) = storage { t.releasePages() }
    }

    public static func == (a: NamedTensor, b: NamedTensor) -> Bool {
        guard a.shape == b.shape, a.dtype == b.dtype else { return false }
        guard let x = try? a.floats(name: ""), let y = try? b.floats(name: "") else { return false }
        return x.map(\.bitPattern) == y.map(\.bitPattern)
    }
}

/// A RepLKNet state dict in the official key layout (`stem.0.conv.weight`,
/// `stages.0.blocks.0.large_kernel.lkb_origin.conv.weight`, `transitions.0.1.bn.running_var`, `head.bias`, …),
/// in training form (conv + BN everywhere, `lkb_origin` + `small_conv`) or deployed form (`lkb_reparam`).
public struct Checkpoint: Sendable {
    public var tensors: [String: NamedTensor]
    /// The file's format: `torch.save`'s ZIP checkpoint or safetensors (nil for weights made in memory).
    public enum Format: String, Sendable { case pytorch = "PyTorch ZIP (torch.save)", safetensors }
    public var format: Format?
    /// Where the state dict was found (`'model'` of a training checkpoint, or `topLevel`), for messages.
    public var origin: String = Checkpoint.topLevel
    /// The `origin` of a state dict that is the whole file (a safetensors file, a saved `state_dict()`).
    public static let topLevel = "the top level"
    /// Globals the `.pth` pickle names that were kept opaque and never called (`TorchCheckpoint.opaqueGlobals`).
    public var opaqueGlobals: [String] = []
    /// Entries read but not used: `num_batches_tracked` counters, a stripped `module.` prefix.
    public var notes: [String] = []

    public init(tensors: [String: NamedTensor]) { self.tensors = tensors }

    /// Where a state dict is looked for in a training checkpoint, in order, when `--model-key` is not given:
    /// the official training script saves `{'model', 'model_ema', 'optimizer', 'scaler', 'epoch', 'args'}`
    /// and evaluates `model` by default (`--model_key model|model_ema`); other tools save `{'state_dict'}`.
    /// When none is present the top level must be the state dict.
    public static let defaultModelKeys = ["model", "state_dict"]

    /// Reads a checkpoint: a PyTorch `.pth`/`.pt` (`torch.save`'s ZIP format, read in Swift, nothing executed)
    /// or a safetensors file, told apart by their first bytes.
    ///
    /// - `modelKey`: the entry of a `.pth` holding the state dict (`model`, `model_ema`, `state_dict`; several
    ///   may be given as `a|b`, the first present wins); by default `defaultModelKeys`, then the top level.
    /// - A `module.` prefix on every name (a model wrapped in DistributedDataParallel) is removed.
    /// - `num_batches_tracked` counters (integers) are skipped. F64, F16 and BF16 weights are converted to
    ///   float32 when the model takes them; a tensor in another dtype is refused then, naming it.
    /// Tensors stay in the mapped file until taken, so loading reads only the pickle or header.
    public static func load(path: String, modelKey: String? = nil) throws -> Checkpoint {
        let bytes: MappedBytes
        do { bytes = try MappedBytes(path: path) } catch { throw ModelError("\(error)") }
        return try load(bytes: bytes, path: path, modelKey: modelKey)
    }

    /// `load(path:modelKey:)` on bytes already in memory or mapped; `path` names them in messages.
    public static func load(bytes: MappedBytes, path: String, modelKey: String? = nil) throws -> Checkpoint {
        var raw: [(String, StoredTensor)] = []
        var origin = topLevel, format = Format.safetensors, opaque: [String] = []  // safetensors unless a ZIP is found
        do {
            if ZipArchive.hasSignature(bytes) || TorchCheckpoint.looksLikeLegacy(bytes) {
                let torch = try TorchCheckpoint(bytes: bytes, path: path)
                (raw, origin) = try stateDict(torch, modelKey: modelKey)
                format = .pytorch
                opaque = torch.opaqueGlobals
            } else {
                if let modelKey { throw ModelError("\(path): --model-key '\(modelKey)' applies to PyTorch checkpoints; a safetensors file holds one state dict") }
                let file = try SafeTensors(bytes: bytes, path: path)
                raw = try file.entries.keys.map { ($0, try file.stored($0)) }
            }
        } catch let e as ModelError { throw e } catch { throw ModelError("\(error)") }
        var notes: [String] = []
        // DistributedDataParallel's prefix, when every name has it.
        if !raw.isEmpty, raw.allSatisfy({ $0.0.hasPrefix("module.") }) {
            raw = raw.map { (String($0.0.dropFirst("module.".count)), $0.1) }
            notes.append("removed the 'module.' prefix of a DistributedDataParallel model")
        }
        var tensors: [String: NamedTensor] = [:]
        var counters = 0
        for (name, t) in raw {
            if name.hasSuffix("num_batches_tracked") && (t.dtype.isInteger || t.count <= 1) { counters += 1; continue }
            guard tensors[name] == nil else { throw ModelError("\(path): tensor '\(name)' appears twice") }
            tensors[name] = NamedTensor(t)
        }
        if counters > 0 { notes.append("skipped \(counters) num_batches_tracked counters") }
        var checkpoint = Checkpoint(tensors: tensors)
        checkpoint.origin = origin
        checkpoint.format = format
        checkpoint.opaqueGlobals = opaque
        checkpoint.notes = notes
        return checkpoint
    }

    /// The state dict inside a torch checkpoint, with a description of where it was.
    static func stateDict(_ torch: TorchCheckpoint, modelKey: String?) throws -> ([(String, StoredTensor)], String) {
        let path = torch.path
        guard case .dict(let top) = torch.root else {
            throw ModelError("\(path): holds \(torch.root.kindDescription), not a state dict (save model.state_dict(), not the model)")
        }
        var chosen: (PickleDict, String)?
        if let modelKey {
            let keys = modelKey.split(separator: "|").map(String.init)
            for key in keys {
                if let v = top[key] {
                    guard case .dict(let d) = v else { throw ModelError("\(path): '\(key)' holds \(v.kindDescription), not a state dict") }
                    chosen = (d, "'\(key)'")
                    break
                }
            }
            guard chosen != nil else {
                throw ModelError("\(path): no entry \(keys.map { "'\($0)'" }.joined(separator: " or ")) (top-level keys: \(top.stringKeys.prefix(12).joined(separator: ", ")))")
            }
        } else {
            for key in defaultModelKeys {
                if let v = top[key], case .dict(let d) = v { chosen = (d, "'\(key)'"); break }
            }
        }
        let (dict, origin) = chosen ?? (top, topLevel)
        var out: [(String, StoredTensor)] = []
        out.reserveCapacity(dict.entries.count)
        for (key, value) in dict.entries {
            guard case .string(let name) = key else { throw ModelError("\(path): \(origin) has a key that is not a string") }
            guard case .tensor(let t) = value else {
                let hint = origin == topLevel ? " (a training checkpoint? its keys: \(top.stringKeys.prefix(12).joined(separator: ", ")); choose one with --model-key)" : ""
                throw ModelError("\(path): entry '\(name)' of \(origin) is \(value.kindDescription), not a tensor\(hint)")
            }
            out.append((name, t))
        }
        return (out, origin)
    }

    /// Writes the tensors as a float32 safetensors file, atomically.
    public func write(path: String) throws {
        let data = try SafeTensors.encode(tensors.map { ($0.key, $0.value.shape, try $0.value.floats(name: $0.key)) })
        try AtomicFile.write(data, to: path)
    }

    /// The tensor `name` with exactly `shape`, or an error naming it.
    func tensor(_ name: String, _ shape: [Int]) throws -> [Float] {
        guard let t = tensors[name] else { throw ModelError("checkpoint: missing tensor '\(name)'") }
        guard t.shape == shape else {
            throw ModelError("checkpoint: tensor '\(name)' has shape \(t.shape), the architecture needs \(shape)")
        }
        return try t.floats(name: name)
    }

    /// Removes and returns the tensor `name`, which must have exactly `shape` (frees it as it is consumed).
    mutating func take(_ name: String, _ shape: [Int]) throws -> [Float] {
        let values = try tensor(name, shape)
        tensors.removeValue(forKey: name)?.releasePages()
        return values
    }

    /// Whether a large-kernel block is stored deployed (`lkb_reparam`) rather than as `lkb_origin` + `small_conv`.
    var isDeployed: Bool { tensors.keys.contains { $0.contains("lkb_reparam") } }

    /// Seeded random weights for `config` in training form, with non-trivial BatchNorm statistics, so that
    /// re-parameterization has something to fuse. Convolutions are scaled by 1/√fan-in (outputs stay O(1)).
    public static func random(_ config: RepLKNetConfig, seed: UInt64 = 2022) -> Checkpoint {
        var rng = SeededGenerator(seed: seed)
        var t: [String: NamedTensor] = [:]
        for spec in config.tensorSpecs(deployed: false) {
            let count = spec.shape.reduce(1, *)
            let values: [Float]
            switch spec.role {
            case .convWeight:
                let scale = 1 / Float(spec.shape.dropFirst().reduce(1, *)).squareRoot()
                values = rng.signedArray(count).map { $0 * scale * 1.5 }
            case .normWeight: values = rng.signedArray(count).map { 0.75 + 0.25 * $0 }
            case .normBias, .normMean, .bias: values = rng.signedArray(count).map { 0.1 * $0 }
            case .normVariance: values = rng.signedArray(count).map { 1 + 0.25 * $0 }
            case .linearWeight: values = rng.signedArray(count).map { $0 / Float(spec.shape[1]).squareRoot() }
            }
            t[spec.name] = NamedTensor(shape: spec.shape, values: values)
        }
        return Checkpoint(tensors: t)
    }
}

/// A model or checkpoint error: one line naming the tensor or setting.
public struct ModelError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
