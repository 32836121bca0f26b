// swift-tools-version:6.0
// dwbench — benchmarks and autotunes depthwise convolution on CPUs.
import PackageDescription

/// Every numeric target is compiled for the build machine's CPU so that swiftc emits its widest
/// vectors (AVX-512 `zmm` FMAs on this project's machines). Without it, `SIMD16<Float>.addProduct`
/// lowers to calls to `fmaf`. See README "Build settings".
let nativeCPU: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]

let package = Package(
    name: "dwbench",
    products: [
        .executable(name: "dwbench", targets: ["dwbench"]),
        .executable(name: "dwbench-gbench", targets: ["dwbench-gbench"]),
        .library(name: "DWKernels", targets: ["DWKernels"]),
        // libdwconv.so: the kernels, the plan and the thread pool behind the C ABI of include/dwconv.h
        // (install with `bash Sources/DWConv/install.sh PREFIX`; Python: Python/dwconv).
        .library(name: "dwconv", type: .dynamic, targets: ["DWConv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CNuma", path: "Sources/CNuma"),
        .systemLibrary(name: "CSpin", path: "Sources/CSpin"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        // Photos for `replknet --image`: the system's libjpeg-turbo and libpng (Debian libjpeg-dev, libpng-dev),
        // behind a small C layer that turns their longjmp error handling into status codes.
        .target(name: "DWImageDecode", path: "Sources/DWImageDecode",
                linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16")]),
        // The bf16 micro-kernels (vdpbf16ps): compiled for the baseline CPU, with the AVX512_BF16 target
        // attribute on those functions only, and called only after the CPUID check (runtime dispatch).
        .target(name: "DWBF16", path: "Sources/DWBF16"),
        .target(name: "DWCore", dependencies: ["CNuma", "CSpin", "DWBF16"], swiftSettings: nativeCPU),
        .target(name: "DWKernels", dependencies: ["DWCore", "COpenBLAS", "CDNNL", "CSpin", "DWBF16"],
                exclude: ["Depthwise/Direct/DirectBlocks.py", "Depthwise/Toeplitz/ToeplitzRows.py", "Pointwise/PointwiseTiles.py"], swiftSettings: nativeCPU),
        .target(name: "DWTune", dependencies: ["DWCore", "DWKernels"], exclude: ["plan.schema.json"], swiftSettings: nativeCPU),
        // Checkpoint file formats (pickle, zip, safetensors, PyTorch checkpoints): what DWModel reads weights from.
        .target(name: "DWFormats", dependencies: ["DWCore"], swiftSettings: nativeCPU),
        .target(name: "DWModel", dependencies: ["DWCore", "DWFormats", "DWKernels", "DWTune", "DWImageDecode"], swiftSettings: nativeCPU),
        // The benchmarking library (benchdnn's place beside oneDNN): problem benchmarks, bench records, the
        // regression gate and its baseline, epilogue measurement, plan verification, model timing, and the
        // report writers (Results page, model report, SVG charts). The CLI parses, calls it, prints.
        .target(name: "DWBench", dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel"],
                exclude: ["bench.schema.json", "model-report.schema.json", "baseline.schema.json", "results.schema.json"], swiftSettings: nativeCPU),
        // libdwconv's guard: which of the instructions this build uses the running CPU lacks (C, CPUID only).
        .target(name: "DWCPUCheck", path: "Sources/DWCPUCheck", cSettings: [.unsafeFlags(["-march=native"])]),
        // libdwconv's dwconv_openmp_parallel_for (include/dwconv.h): the host's GNU OpenMP runtime through the function
        // pointers the caller passes; no OpenMP runtime linked.
        .target(name: "DWOpenMP", path: "Sources/DWOpenMP", cSettings: [.headerSearchPath("../../include")]),
        .target(name: "DWConv", dependencies: ["DWCPUCheck", "DWOpenMP", "DWCore", "DWKernels", "DWTune"], exclude: ["install.sh"],
                swiftSettings: nativeCPU),
        .executableTarget(
            name: "dwbench",
            dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel", "DWBench",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: nativeCPU),
        // Google Benchmark harness: a C++ main that registers one benchmark per registry algorithm × shape,
        // calling the Swift kernels through the bridge's C entry points.
        .target(name: "DWBenchBridge", dependencies: ["DWCore", "DWKernels"], path: "Benchmarks/Bridge",
                swiftSettings: nativeCPU),
        .executableTarget(
            name: "dwbench-gbench", dependencies: ["DWBenchBridge"], path: "Benchmarks/GBench",
            linkerSettings: [.linkedLibrary("benchmark"), .linkedLibrary("pthread")]),
        // Fuzz bodies, one per input format: run by libFuzzer (Tests/Fuzz/fuzz.sh links Tests/Fuzz/Entry) and
        // replayed over the committed corpus and crash regressions by DWFuzzTests.
        .target(name: "DWFuzzBodies", dependencies: ["DWCore", "DWFormats", "DWKernels", "DWTune", "DWModel", "DWBench"], path: "Tests/Fuzz/Bodies",
                swiftSettings: nativeCPU),
        .testTarget(name: "DWFuzzTests", dependencies: ["DWFuzzBodies"], path: "Tests/Fuzz/Replay"),
        // Test support: the fp64 references, seeded sweeps and the conformance checks every algorithm gets
        // from being in a list (the registry's, or the registry plus a test-only algorithm); device nodes
        // made with mknod and pipes read to their end, for the tests of writers and of the CLI.
        .target(name: "DWTestSupport", dependencies: ["DWCore", "DWKernels"], path: "Tests/DWTestSupport", swiftSettings: nativeCPU),
        .testTarget(name: "DWCoreTests", dependencies: ["DWCore", "DWTestSupport"], swiftSettings: nativeCPU),
        .testTarget(name: "DWKernelsTests", dependencies: ["DWCore", "DWKernels", "DWTestSupport"], swiftSettings: nativeCPU),
        .testTarget(name: "DWTuneTests", dependencies: ["DWCore", "DWKernels", "DWTune"], swiftSettings: nativeCPU),
        .testTarget(name: "DWBenchTests", dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel", "DWBench", "DWTestSupport"], swiftSettings: nativeCPU),
        .testTarget(name: "DWModelTests", dependencies: ["DWCore", "DWFormats", "DWKernels", "DWTune", "DWModel", "DWTestSupport"], exclude: ["Fixtures"],
                    swiftSettings: nativeCPU),
        .testTarget(name: "DWBenchCLITests", dependencies: ["DWCore", "DWKernels", "DWTune", "DWBench", "DWTestSupport", "dwbench"], exclude: ["Fixtures"]),
    ],
    cxxLanguageStandard: .cxx17
)
