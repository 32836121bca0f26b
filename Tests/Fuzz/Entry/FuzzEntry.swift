import DWFuzzBodies
import Foundation

// libFuzzer entry points. Not part of the package build: Tests/Fuzz/fuzz.sh compiles this file with
// `-sanitize=fuzzer,address` against instrumented builds of the libraries and links one executable
// under the name of every target (`fuzz-npy`, `fuzz-safetensors`, …); the name picks the body.

nonisolated(unsafe) var selected: FuzzTarget?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzerInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let path = argv.pointee?.pointee.map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget.forExecutable(path) else {
        let names = FuzzTarget.allCases.map { "fuzz-\($0.rawValue)" }.joined(separator: ", ")
        FileHandle.standardError.write(Data("fuzz entry: run this binary as one of \(names)\n".utf8))
        exit(2)
    }
    selected = target
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    selected?.run(data)
    return 0
}
