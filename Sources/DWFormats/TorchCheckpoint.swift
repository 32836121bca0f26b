import DWCore
import Foundation

/// A PyTorch checkpoint as `torch.save` writes it (the ZIP format, its default since PyTorch 1.6):
/// `<archive>/data.pkl` (the pickled object), `<archive>/data/<key>` (one uncompressed member per storage),
/// `<archive>/byteorder` and `<archive>/version`. Read directly, with nothing from the file executed:
///
/// - `data.pkl` goes through the restricted `Unpickler`. Only these globals are given meaning:
///   `collections.OrderedDict` (a dict), `torch._utils._rebuild_tensor`/`_rebuild_tensor_v2`/
///   `_rebuild_parameter`/`_rebuild_parameter_with_state`, `torch._tensor._rebuild_from_type_v2` (a tensor
///   subclass: rebuilt as its tensor), `torch.Size` (a tuple) and the `torch.*Storage` types of
///   `storageTypes`. Every other global (an `argparse.Namespace` of training arguments, an optimizer's or
///   scaler's classes, `os.system`) becomes an opaque value that is never called, so whole training
///   checkpoints load; `opaqueGlobals` lists them.
/// - Storages are persistent IDs `('storage', torch.FloatStorage, key, location, numel)`; each must be a
///   member at least numel elements long, and each tensor must address only elements of its storage.
///   Tensors are views of the mapped file (zero-copy) until their values are read.
/// - Pre-1.6 checkpoints (a bare pickle stream) are refused with the one-line fix.
public struct TorchCheckpoint: Sendable {
    public let path: String
    /// The unpickled object: usually a dict (a state dict, or a training checkpoint holding one).
    public let root: PickleValue
    /// Globals the pickle names that dwbench does not interpret (kept opaque), sorted.
    public let opaqueGlobals: [String]

    /// Storage classes and their element types.
    public static let storageTypes: [String: TensorDType] = [
        "FloatStorage": .f32, "DoubleStorage": .f64, "HalfStorage": .f16, "BFloat16Storage": .bf16,
        "LongStorage": .i64, "IntStorage": .i32, "ShortStorage": .i16, "CharStorage": .i8, "ByteStorage": .u8,
        "BoolStorage": .bool, "Float8_e4m3fnStorage": .f8e4m3, "Float8_e5m2Storage": .f8e5m2,
    ]

    /// The fix for a pre-1.6 (non-ZIP) checkpoint.
    public static let legacyFix = "a legacy PyTorch checkpoint (pre-1.6, not a ZIP archive); re-save it with a current PyTorch: python3 -c \"import torch; torch.save(torch.load('old.pth', map_location='cpu', weights_only=False), 'new.pth')\""

    /// Whether `bytes` start like a pickle stream (the legacy format begins with a pickled magic number).
    public static func looksLikeLegacy(_ bytes: MappedBytes) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x80 && (2...5).contains(bytes[1])
    }

    public init(path: String) throws {
        try self.init(bytes: try MappedBytes(path: path), path: path)
    }

    public init(bytes: MappedBytes, path: String) throws {
        self.path = path
        guard ZipArchive.hasSignature(bytes) else {
            if TorchCheckpoint.looksLikeLegacy(bytes) { throw CheckpointFormatError(path, TorchCheckpoint.legacyFix) }
            throw CheckpointFormatError(path, "not a PyTorch ZIP checkpoint")
        }
        let zip = try ZipArchive(bytes: bytes, path: path)
        // The pickle is `<archive>/data.pkl`, one folder down (torch.save names the folder after the file).
        let candidates = zip.members.filter { $0.name.hasSuffix("/data.pkl") && $0.name.split(separator: "/").count == 2 }
        guard candidates.count == 1, let pickle = candidates.first else {
            throw CheckpointFormatError(path, candidates.isEmpty ? "a ZIP archive without <archive>/data.pkl: not a torch.save checkpoint"
                                                                 : "a ZIP archive with \(candidates.count) data.pkl members")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let order = zip.member(prefix + "byteorder") {
            let text = String(decoding: bytes.data(order.data), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" || text == "big" else { throw CheckpointFormatError(path, "byteorder is '\(text.prefix(20))', expected little or big") }
            bigEndian = text == "big"
        }
        var opaque = Set<String>()
        func fail(_ why: String) -> CheckpointFormatError { CheckpointFormatError(path, why) }

        func persistentLoad(_ id: PickleValue) throws -> PickleValue {
            guard case .tuple(let t) = id, t.items.count >= 5, case .string("storage") = t.items[0],
                  case .global(let module, let typeName) = t.items[1], case .string(let key) = t.items[2],
                  case .int(let numel) = t.items[4], numel >= 0 else {
                throw fail("data.pkl has a persistent ID that is not ('storage', type, key, location, numel)")
            }
            guard module == "torch" else { throw fail("storage '\(key)' has type \(module).\(typeName), not a torch storage") }
            guard let member = zip.member(prefix + "data/" + key) else {
                throw fail("storage '\(key)' is missing from the archive (truncated or damaged file)")
            }
            let dtype = TorchCheckpoint.storageTypes[typeName]
            if let dtype {
                let (needed, overflow) = numel.multipliedReportingOverflow(by: dtype.size)
                guard !overflow, needed <= member.data.count else {
                    throw fail("storage '\(key)' holds \(member.data.count) bytes, shorter than its \(numel) elements of \(dtype.rawValue) (truncated or damaged file)")
                }
                return .storage(PickleStorage(typeName: "torch.\(typeName)", dtype: dtype, bytes: bytes,
                                              range: member.data.lowerBound ..< member.data.lowerBound + needed))
            }
            return .storage(PickleStorage(typeName: "torch.\(typeName)", dtype: nil, bytes: bytes, range: member.data))
        }

        /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)` and `_rebuild_tensor(storage, offset, size, stride)`.
        func rebuildTensor(_ args: [PickleValue]) throws -> PickleValue? {
            guard args.count >= 4, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                  case .tuple(let sizeTuple) = args[2], case .tuple(let strideTuple) = args[3] else {
                throw fail("data.pkl rebuilds a tensor from arguments that are not (storage, offset, size, stride)")
            }
            func ints(_ c: PickleContainer) -> [Int]? {
                var out: [Int] = []
                for item in c.items {
                    guard case .int(let v) = item else { return nil }
                    out.append(v)
                }
                return out
            }
            guard let shape = ints(sizeTuple), let strides = ints(strideTuple), shape.count == strides.count,
                  shape.allSatisfy({ $0 >= 0 }), offset >= 0 else {
                throw fail("data.pkl has a tensor with a malformed size, stride or offset")
            }
            guard let dtype = storage.dtype else {
                // A storage type dwbench cannot read (complex, quantized): opaque unless something needs it.
                return .object(PickleObject(className: "tensor of \(storage.typeName)", arguments: []))
            }
            guard let extent = StoredTensor.extent(shape: shape, strides: strides), offset <= storage.count,
                  extent <= storage.count - offset else {
                throw fail("a tensor of size \(shape) with stride \(strides) at offset \(offset) runs past its storage of \(storage.count) elements (damaged file)")
            }
            var count = 1
            for d in shape {
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw fail("a tensor of size \(shape) has too many elements") }
                count = m
            }
            return .tensor(StoredTensor(dtype: dtype, shape: shape, strides: strides, bytes: bytes,
                                        byteOffset: storage.range.lowerBound, offset: offset, bigEndian: bigEndian))
        }

        func reduce(_ module: String, _ name: String, _ args: [PickleValue]) throws -> PickleValue? {
            switch (module, name) {
            case ("collections", "OrderedDict"):
                guard args.isEmpty || (args.count == 1 && { if case .list = args[0] { return true }; return false }()) else { return nil }
                let d = PickleDict()
                if case .list(let pairs) = args.first {
                    for p in pairs.items {
                        guard case .tuple(let kv) = p, kv.items.count == 2 else { return nil }
                        d.set(kv.items[0], kv.items[1])
                    }
                }
                return .dict(d)
            case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
                return try rebuildTensor(args)
            case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
                guard let data = args.first, case .tensor = data else { return nil }
                return data
            case ("torch._tensor", "_rebuild_from_type_v2"):
                // (func, type, args, state): rebuild with func if it is one of ours; the subclass is dropped.
                guard args.count >= 3, case .global(let m, let n) = args[0], case .tuple(let inner) = args[2],
                      m == "torch._utils", n.hasPrefix("_rebuild_tensor") else { return nil }
                return try rebuildTensor(inner.items)
            case ("torch", "Size"):
                guard let t = args.first, case .tuple = t else { return nil }
                return t
            default:
                opaque.insert("\(module).\(name)")
                return nil
            }
        }

        root = try Unpickler.load(bytes, range: pickle.data, what: "\(path): \(pickle.name)", reduce: reduce,
                                  persistentLoad: persistentLoad)
        opaqueGlobals = opaque.sorted()
    }
}
