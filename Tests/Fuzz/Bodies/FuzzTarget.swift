import DWFormats
import Foundation

/// One fuzz target per input format dwbench reads from elsewhere. Each body feeds arbitrary bytes to the
/// format's one reader and, when the reader accepts them, checks the reader's promises: the value writes
/// back and reads again to the same value, and derived values are consistent. A broken promise stops the
/// process (`check`), which libFuzzer reports as a crash like any trap, so the fuzzer hunts logic errors
/// as well as memory errors, hangs and over-allocation.
///
/// The same bodies run under libFuzzer (`Tests/Fuzz/fuzz.sh`, one executable per target, named
/// `fuzz-<target>`) and in the test suite, which replays the committed seed corpus and every input that
/// once crashed (`Tests/Fuzz/regressions/<target>/`).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// NumPy `.npy` arrays (`NPYArray.parse`).
    case npy
    /// safetensors checkpoints: the container (`SafeTensors`), every tensor's values, then the RepLKNet
    /// architecture inferred from the names and shapes (`RepLKNetConfig.infer`).
    case safetensors
    /// Tuning plans (`Plan.decode`), and every consumer of an accepted one.
    case plan
    /// The numbers of a valid plan overwritten with values made from the input (`fuzzPlanNumbers`), then the
    /// plan target's read path and consumers.
    case plannumbers
    /// Shape files and the problem text forms they hold (`ShapeFile(parsing:)`).
    case shapes
    /// Regression-gate baselines (`GateBaseline.decode`).
    case baseline
    /// Pickle streams (`Unpickler`, the restricted unpickler of `.pth` checkpoints).
    case pickle
    /// ZIP archives (`ZipArchive`), and through them whole `torch.save` checkpoints (`TorchCheckpoint`,
    /// `Checkpoint.load`, then the RepLKNet architecture).
    case zip
    /// The output-path writer (`AtomicFile.write`) on file-system scenarios: devices, FIFOs, symbolic
    /// links, directories, missing parents (the one target whose input is not a file format).
    case output

    /// Runs the body on one input. Rejections (thrown errors) are the expected outcome for most inputs.
    public func run(_ data: Data) {
        switch self {
        case .npy: fuzzNPY(data)
        case .safetensors: fuzzSafeTensors(data)
        case .plan: fuzzPlan(data)
        case .plannumbers: fuzzPlanNumbers(data)
        case .shapes: fuzzShapes(data)
        case .baseline: fuzzBaseline(data)
        case .pickle: fuzzPickle(data)
        case .zip: fuzzZip(data)
        case .output: fuzzOutput(data)
        }
    }

    /// The target an executable named `fuzz-<target>` runs (one binary, linked under one name per target).
    public static func forExecutable(_ path: String) -> FuzzTarget? {
        let name = URL(fileURLWithPath: path).lastPathComponent
        guard name.hasPrefix("fuzz-") else { return nil }
        return FuzzTarget(rawValue: String(name.dropFirst(5)))
    }
}

/// A promise of an accepted input that does not hold: stop, naming it (libFuzzer saves the input).
func check(_ condition: @autoclosure () -> Bool, _ what: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        FileHandle.standardError.write(Data("fuzz invariant broken: \(what())\n".utf8))
        fatalError("fuzz invariant broken", file: file, line: line)
    }
}
