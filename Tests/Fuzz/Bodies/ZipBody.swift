import DWCore
import DWFormats
import DWModel
import Foundation

/// An accepted ZIP archive: every member lies within the file and names are unique. When it is also a
/// torch.save checkpoint, every tensor it yields addresses only its storage and reads (or is refused
/// with one line), and the state dict either infers a RepLKNet architecture whose expected tensors are the
/// checkpoint's, or is refused with one line.
func fuzzZip(_ data: Data) {
    let bytes = MappedBytes(data: data)
    guard let zip = try? ZipArchive(bytes: bytes, path: "<fuzz>") else { return }
    var names = Set<String>()
    for m in zip.members {
        check(m.data.lowerBound >= 0 && m.data.upperBound <= data.count, "member '\(m.name)' \(m.data) outside the \(data.count)-byte file")
        check(names.insert(m.name).inserted, "member '\(m.name)' listed twice")
        check(zip.member(m.name) == m, "member '\(m.name)' not found by name")
    }
    let checkpoint: Checkpoint
    do { checkpoint = try Checkpoint.load(bytes: bytes, path: "<fuzz>") } catch {
        return check(!"\(error)".contains("\n"), "error is not one line: \(error)")
    }
    for (name, tensor) in checkpoint.tensors {
        do {
            let values = try tensor.floats(name: name)
            check(values.count == tensor.shape.reduce(1, *), "tensor '\(name)': \(values.count) values for shape \(tensor.shape)")
        } catch {
            check(!"\(error)".contains("\n"), "error is not one line: \(error)")
        }
    }
    do {
        let config = try RepLKNetConfig.infer(from: checkpoint)
        check(config.stages >= 1 && config.parameterCount > 0, "inferred architecture is inconsistent: \(config)")
    } catch {
        check(!"\(error)".contains("\n"), "error is not one line: \(error)")
    }
}
