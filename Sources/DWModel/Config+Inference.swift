import DWCore

extension RepLKNetConfig {
    /// Infers the architecture from a checkpoint's names and shapes: stages and blocks from the
    /// `stages.S.blocks.B.` indices, widths from `prelkb_bn`, depthwise and FFN ratios from the `pw1` convs,
    /// kernel sizes from `lkb_origin`/`lkb_reparam`, the small kernel from `small_conv` (nil when deployed or
    /// absent), input channels from `stem.0`, classes from `head.weight`. Then checks that the checkpoint
    /// holds exactly the tensors that architecture needs, with their shapes; any difference is an error
    /// naming the tensor.
    public static func infer(from checkpoint: Checkpoint) throws -> RepLKNetConfig {
        let t = checkpoint.tensors
        func shape(_ name: String) throws -> [Int] {
            guard let s = t[name]?.shape else { throw ModelError("checkpoint: missing tensor '\(name)'") }
            return s
        }
        // Block indices per stage, as sets: a count taken from the largest index alone would let one name
        // such as `stages.0.blocks.99999999999.x` claim 10^11 blocks (and the expected-name table that many
        // entries), so the indices must be exactly 0…n−1 — which bounds n by the number of tensors.
        var blockIndices: [Int: Set<Int>] = [:]
        for key in t.keys where key.hasPrefix("stages.") {
            let parts = key.split(separator: ".")
            guard parts.count > 4, parts[2] == "blocks", let s = decimalIndex(parts[1]), let b = decimalIndex(parts[3]) else {
                throw ModelError("checkpoint: unexpected tensor '\(key)'")
            }
            blockIndices[s, default: []].insert(b)
        }
        let stages = blockIndices.count
        guard stages >= 1, blockIndices.keys.sorted() == Array(0..<stages) else {
            throw ModelError("checkpoint: stages \(blockIndices.keys.sorted().prefix(8)) are not numbered 0…n−1")
        }
        var kernels: [Int] = [], blocks: [Int] = [], channels: [Int] = []
        var small: Int?? = .none
        var dwRatio: Double?, ffnRatio: Int?
        for s in 0..<stages {
            let indices = blockIndices[s]!, last = indices.max()!
            guard indices.count == last + 1 else {
                let missing = (0...last).first { !indices.contains($0) }!
                throw ModelError("checkpoint: stage \(s) has no block \(missing) (tensors 'stages.\(s).blocks.\(missing).*')")
            }
            guard indices.count % 2 == 0 else {
                throw ModelError("checkpoint: stage \(s) has \(indices.count) blocks; RepLK and ConvFFN blocks come in pairs")
            }
            blocks.append(indices.count / 2)
            let c = try shape("stages.\(s).blocks.0.prelkb_bn.weight")
            guard c.count == 1, c[0] >= 1 else { throw ModelError("checkpoint: tensor 'stages.\(s).blocks.0.prelkb_bn.weight' has shape \(c), expected a non-empty vector") }
            channels.append(c[0])
            let pw1 = try shape("stages.\(s).blocks.0.pw1.conv.weight")
            guard pw1.count == 4, pw1[0] >= 1, pw1[1] == c[0] else {
                throw ModelError("checkpoint: tensor 'stages.\(s).blocks.0.pw1.conv.weight' has shape \(pw1), expected (D, \(c[0]), 1, 1)")
            }
            let ratio = Double(pw1[0]) / Double(c[0])
            if let dwRatio, dwRatio != ratio { throw ModelError("checkpoint: stage \(s) has depthwise ratio \(ratio), stage 0 has \(dwRatio)") }
            dwRatio = ratio
            let lkName = checkpoint.isDeployed ? "stages.\(s).blocks.0.large_kernel.lkb_reparam.weight"
                                               : "stages.\(s).blocks.0.large_kernel.lkb_origin.conv.weight"
            let lk = try shape(lkName)
            guard lk.count == 4, lk[0] >= 1, lk[1] == 1, lk[2] == lk[3], lk[2] % 2 == 1 else {
                throw ModelError("checkpoint: tensor '\(lkName)' has shape \(lk), expected (D, 1, K, K) with K odd")
            }
            kernels.append(lk[2])
            let smallName = "stages.\(s).blocks.0.large_kernel.small_conv.conv.weight"
            let thisSmall: Int? = t[smallName].map { $0.shape.count == 4 ? $0.shape[2] : -1 }
            if let thisSmall, thisSmall < 1 || thisSmall % 2 == 0 || thisSmall > lk[2] {
                throw ModelError("checkpoint: tensor '\(smallName)' has shape \(t[smallName]!.shape), expected (D, 1, k, k) with k odd and at most \(lk[2])")
            }
            if case let .some(previous) = small, previous != thisSmall {
                throw ModelError("checkpoint: tensor '\(smallName)': small kernel differs between stages")
            }
            small = .some(thisSmall)
            let f = try shape("stages.\(s).blocks.1.pw1.conv.weight")
            guard f.count == 4, f[1] == c[0], f[0] >= c[0], f[0] % c[0] == 0 else {
                throw ModelError("checkpoint: tensor 'stages.\(s).blocks.1.pw1.conv.weight' has shape \(f), expected (r·\(c[0]), \(c[0]), 1, 1)")
            }
            if let ffnRatio, ffnRatio != f[0] / c[0] { throw ModelError("checkpoint: stage \(s) has FFN ratio \(f[0] / c[0]), stage 0 has \(ffnRatio)") }
            ffnRatio = f[0] / c[0]
        }
        let stem = try shape("stem.0.conv.weight")
        guard stem.count == 4, stem[1] >= 1, stem[2] == 3, stem[3] == 3 else { throw ModelError("checkpoint: tensor 'stem.0.conv.weight' has shape \(stem), expected (C0, in, 3, 3)") }
        let head = try shape("head.weight")
        guard head.count == 2, head[0] >= 1 else { throw ModelError("checkpoint: tensor 'head.weight' has shape \(head), expected (classes, C)") }
        let config = RepLKNetConfig(kernels: kernels, blocks: blocks, channels: channels, smallKernel: small ?? nil,
                                    dwRatio: dwRatio ?? 1, ffnRatio: ffnRatio ?? 4, inChannels: stem[1], classes: head[0])
        try config.checkNames(checkpoint)
        return config
    }

    /// Every tensor name this architecture has, with its shape, in the checkpoint's form (from the layer list).
    func expectedTensors(deployed: Bool) -> [String: [Int]] {
        Dictionary(tensorSpecs(deployed: deployed).map { ($0.name, $0.shape) }, uniquingKeysWith: { a, _ in a })
    }

    /// Fails on the first missing, extra or mis-shaped tensor (sorted by name, so the message is stable).
    func checkNames(_ checkpoint: Checkpoint) throws {
        let expected = expectedTensors(deployed: checkpoint.isDeployed)
        for name in expected.keys.sorted() {
            guard let t = checkpoint.tensors[name] else { throw ModelError("checkpoint: missing tensor '\(name)'") }
            guard t.shape == expected[name]! else {
                throw ModelError("checkpoint: tensor '\(name)' has shape \(t.shape), the inferred architecture needs \(expected[name]!)")
            }
        }
        for name in checkpoint.tensors.keys.sorted() where expected[name] == nil {
            throw ModelError("checkpoint: unexpected tensor '\(name)' (not part of the inferred architecture: \(self))")
        }
    }
}

/// A plain decimal index ("0", "17"): no sign, at most 6 digits (no model has a million stages or blocks).
private func decimalIndex(_ text: Substring) -> Int? {
    guard !text.isEmpty, text.count <= 6, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return Int(text)
}
