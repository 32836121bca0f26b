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
        .target(name: "DWCore", dependencies: ["CNuma", "CSpin"], swiftSettings: nativeCPU),
        .target(name: "DWKernels", dependencies: ["DWCore", "COpenBLAS", "CDNNL", "CSpin"],
                exclude: ["DirectBlocks.py", "Pointwise/PointwiseTiles.py"], swiftSettings: nativeCPU),
        .target(name: "DWTune", dependencies: ["DWCore", "DWKernels"], exclude: ["plan.schema.json", "baseline.schema.json"], swiftSettings: nativeCPU),
        .target(name: "DWModel", dependencies: ["DWCore", "DWKernels", "DWTune", "DWImageDecode"], swiftSettings: nativeCPU),
        .executableTarget(
            name: "dwbench",
            dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            exclude: ["bench.schema.json", "model-report.schema.json"], swiftSettings: nativeCPU),
        // Google Benchmark harness: a C++ main that registers one benchmark per registry algorithm × shape,
        // calling the Swift kernels through the bridge's C entry points.
        .target(name: "DWBenchBridge", dependencies: ["DWCore", "DWKernels"], path: "Benchmarks/Bridge",
                swiftSettings: nativeCPU),
        .executableTarget(
            name: "dwbench-gbench", dependencies: ["DWBenchBridge"], path: "Benchmarks/GBench",
            linkerSettings: [.linkedLibrary("benchmark"), .linkedLibrary("pthread")]),
        // Fuzz bodies, one per input format: run by libFuzzer (Tests/Fuzz/fuzz.sh links Tests/Fuzz/Entry) and
        // replayed over the committed corpus and crash regressions by DWFuzzTests.
        .target(name: "DWFuzzBodies", dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel"], path: "Tests/Fuzz/Bodies",
                swiftSettings: nativeCPU),
        .testTarget(name: "DWFuzzTests", dependencies: ["DWFuzzBodies"], path: "Tests/Fuzz/Replay"),
        .testTarget(name: "DWCoreTests", dependencies: ["DWCore"], swiftSettings: nativeCPU),
        .testTarget(name: "DWKernelsTests", dependencies: ["DWCore", "DWKernels"], swiftSettings: nativeCPU),
        .testTarget(name: "DWTuneTests", dependencies: ["DWCore", "DWKernels", "DWTune"], swiftSettings: nativeCPU),
        .testTarget(name: "DWModelTests", dependencies: ["DWCore", "DWKernels", "DWTune", "DWModel"], exclude: ["Fixtures"],
                    swiftSettings: nativeCPU),
        .testTarget(name: "DWBenchCLITests", dependencies: ["DWCore", "DWKernels", "DWTune", "dwbench"], exclude: ["Fixtures"]),
    ],
    cxxLanguageStandard: .cxx17
)
