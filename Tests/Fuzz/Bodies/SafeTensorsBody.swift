import DWCore
import DWFormats
import DWModel
import Foundation

/// An accepted safetensors file: every tensor reads with as many values as its shape holds, the float32
/// re-encoding reads back to the same tensors, and the checkpoint either yields a RepLKNet architecture
/// whose expected tensors are exactly the checkpoint's, or a one-line error.
func fuzzSafeTensors(_ data: Data) {
    guard let file = try? SafeTensors(data: data) else { return }
    var tensors: [String: NamedTensor] = [:]
    for (name, entry) in file.entries {
        let values: [Float]
        guard entry.dtype.isWeightType else {
            // Integers, booleans and 8-bit floats are accepted by the container and refused as weights.
            check((try? file.floats(name)) == nil, "tensor '\(name)' of \(entry.dtype.rawValue) read as weights")
            check(entry.end - entry.begin == entry.count * entry.dtype.size, "tensor '\(name)': byte span vs shape")
            continue
        }
        do { values = try file.floats(name) } catch { return check(false, "accepted tensor '\(name)' unreadable: \(error)") }
        check(values.count == entry.count, "tensor '\(name)': \(values.count) values for shape \(entry.shape)")
        check(entry.end - entry.begin == entry.count * entry.dtype.size, "tensor '\(name)': byte span vs shape")
        tensors[name] = NamedTensor(shape: entry.shape, values: values)
    }
    let encoded: Data
    do { encoded = try SafeTensors.encode(tensors.map { ($0.key, $0.value.shape, try $0.value.floats(name: $0.key)) }) } catch {
        return check(false, "accepted tensors cannot be re-encoded: \(error)")
    }
    guard let again = try? SafeTensors(data: encoded) else { return check(false, "re-encoded file rejected") }
    check(Set(again.entries.keys) == Set(tensors.keys), "tensor names changed on re-encoding")
    for (name, tensor) in tensors {
        check(again.entries[name]?.shape == tensor.shape, "tensor '\(name)': shape changed on re-encoding")
        let values = (try? again.floats(name)) ?? []
        check(values.map(\.bitPattern) == ((try? tensor.floats(name: name)) ?? []).map(\.bitPattern), "tensor '\(name)': values changed on re-encoding")
    }
    let checkpoint = Checkpoint(tensors: tensors.filter { !$0.key.hasSuffix("num_batches_tracked") })
    do {
        let config = try RepLKNetConfig.infer(from: checkpoint)
        check(config.stages >= 1 && config.blocks.count == config.stages && config.kernels.count == config.stages,
              "inferred architecture is inconsistent: \(config)")
        check(config.parameterCount > 0, "inferred architecture has no parameters: \(config)")
    } catch {
        check(!"\(error)".contains("\n"), "error is not one line: \(error)")
    }
}
