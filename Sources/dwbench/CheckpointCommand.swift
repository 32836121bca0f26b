import DWBench
import ArgumentParser
import DWCore
import DWModel
import Foundation

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Show what a checkpoint holds and how fast it reads (.pth or safetensors).",
        discussion: """
        Reads the file as 'replknet --checkpoint' does: where the state dict is, its tensors by dtype, what \\
        was skipped, what the pickle names that dwbench leaves uncalled, and the inferred RepLKNet \\
        architecture. Then the time to load every weight (reached in place in the mapped file where the \
        layout allows, converted otherwise), the time to copy them all into float32 arrays, and peak memory.
        """)

    @Argument(help: "A PyTorch .pth/.pt (torch.save) or safetensors file.") var file: String
    @Option(help: "Where the state dict is in a .pth (as replknet --model-key).") var modelKey: String?
    @Option(help: "Output format.") var format: ReportFormat = .table

    func run() throws {
        let s: CheckpointSummary = try cli { try CheckpointSummary.measure(path: file, modelKey: modelKey) }
        if format == .json { return print(try jsonString(s)) }
        print("\(s.file): \(s.format), \(fmt(Double(s.bytes) / 1e6, 1)) MB; state dict: \(s.state_dict)")
        print("tensors: \(s.tensors) (\(s.dtypes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))), \(s.elements) elements")
        for note in s.notes { print("note: \(note)") }
        if !s.opaque_globals.isEmpty { print("not called (kept opaque): \(s.opaque_globals.joined(separator: ", "))") }
        if let a = s.architecture { print("architecture: RepLKNet \(a)") } else { print("architecture: none (\(s.architecture_error ?? ""))") }
        print("open \(fmt(s.open_seconds * 1e3, 1)) ms; load every weight \(fmt(s.load_seconds * 1e3, 1)) ms (\(fmt(Double(s.load_bytes) / 1e6, 1)) MB at \(fmt(s.load_gb_per_s, 2)) GB/s; \(s.zero_copy_tensors) of \(s.tensors) tensors in place); copying them all to float32 arrays \(fmt(s.copy_seconds * 1e3, 1)) ms; peak RSS \(fmt(Double(s.peak_rss_bytes) / 1e6, 0)) MB")
    }
}
