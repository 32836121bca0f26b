import DWCore
import DWFormats
import DWImageDecode
import Foundation

/// An 8-bit RGB image, row-major, 3 bytes per pixel.
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3)
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Decodes a JPEG or PNG file (libjpeg-turbo, libpng) as PIL's `Image.open(f).convert("RGB")` does.
    /// Errors are one line naming the file.
    public static func read(path: String) throws -> RGBImage {
        let bytes: MappedBytes
        do { bytes = try MappedBytes(path: path) } catch { throw ModelError("\(error)") }
        return try decode(bytes, path: path)
    }

    /// Largest image accepted: PIL's decompression-bomb limit (2 × 89,478,485 pixels), or less when memory is short.
    public static var maxPixels: Int { min(178_956_970, Int(MemoryBudget.limitBytes / 16)) }

    public static func decode(_ bytes: MappedBytes, path: String) throws -> RGBImage {
        var image = dw_image()
        var message = [CChar](repeating: 0, count: 256)
        let status = dw_image_decode(bytes.base.assumingMemoryBound(to: UInt8.self), bytes.count, maxPixels, &image, &message, message.count)
        guard status == 0, let rgb = image.rgb else {
            throw ModelError("\(path): \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        defer { dw_image_free(&image) }
        let w = Int(image.width), h = Int(image.height)
        return RGBImage(width: w, height: h, pixels: Array(UnsafeBufferPointer(start: rgb, count: w * h * 3)))
    }
}

/// The official RepLKNet evaluation transform (`datasets.build_transform(is_train=False)` of
/// RepLKNet-pytorch), computed as PIL and torchvision compute it:
/// - R < 384: `Resize(int(R / 0.875), BICUBIC)` (the shorter side to that size, the longer one
///   `int(size · long / short)`), then `CenterCrop(R)` (offsets rounded half to even, as Python's `round`);
/// - R ≥ 384: `Resize((R, R), BICUBIC)` (a warp, no crop);
/// - `ToTensor` (÷ 255) and `Normalize` with the ImageNet mean and standard deviation, in float32.
/// The bicubic resize is PIL's: an antialiased separable filter (a = −0.5, support widened by the scale
/// when shrinking), horizontal pass then vertical, with 22-bit fixed-point coefficients and 8-bit results
/// after each pass.
public enum EvaluationTransform {
    public static let mean: [Float] = [0.485, 0.456, 0.406]
    public static let std: [Float] = [0.229, 0.224, 0.225]
    /// The official `crop_pct` (224/256).
    public static let cropFraction = 224.0 / 256.0

    /// The (3, R, R) float32 input for `image`.
    public static func apply(_ image: RGBImage, resolution r: Int) -> [Float] {
        let cropped: RGBImage
        if r >= 384 {
            cropped = resize(image, width: r, height: r)
        } else {
            let size = Int(Double(r) / cropFraction)
            let short = min(image.width, image.height), long = max(image.width, image.height)
            let newLong = Int(Double(size * long) / Double(short))
            let (w, h) = image.width <= image.height ? (size, newLong) : (newLong, size)
            cropped = centerCrop(resize(image, width: w, height: h), size: r)
        }
        var out = [Float](repeating: 0, count: 3 * r * r)
        for c in 0..<3 {
            let m = mean[c], s = std[c]
            for i in 0..<(r * r) { out[c * r * r + i] = (Float(cropped.pixels[3 * i + c]) / 255 - m) / s }
        }
        return out
    }

    /// torchvision's `CenterCrop` of an image at least `size` on each side.
    public static func centerCrop(_ image: RGBImage, size: Int) -> RGBImage {
        precondition(image.width >= size && image.height >= size)
        let top = Int((Double(image.height - size) / 2).rounded(.toNearestOrEven))
        let left = Int((Double(image.width - size) / 2).rounded(.toNearestOrEven))
        var pixels = [UInt8](repeating: 0, count: size * size * 3)
        for y in 0..<size {
            let src = ((top + y) * image.width + left) * 3
            for i in 0..<(size * 3) { pixels[y * size * 3 + i] = image.pixels[src + i] }
        }
        return RGBImage(width: size, height: size, pixels: pixels)
    }

    /// PIL's `Image.resize((width, height), Image.BICUBIC)` of an RGB image.
    public static func resize(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
        let vertical = Coefficients(inSize: image.height, outSize: height)
        let resizeRows = height != image.height
        var current = image, firstRow = 0
        if width != image.width {
            // Only the rows the vertical pass reads (all of them when there is no vertical pass).
            let rows = resizeRows ? vertical.bounds[0].start ..< vertical.bounds[height - 1].start + vertical.bounds[height - 1].count
                                  : 0 ..< image.height
            current = horizontal(image, rows: rows, coefficients: Coefficients(inSize: image.width, outSize: width))
            firstRow = rows.lowerBound
        }
        return resizeRows ? verticalPass(current, firstRow: firstRow, coefficients: vertical) : current
    }

    /// Filter taps per output pixel, as PIL's `precompute_coeffs` and `normalize_coeffs_8bpc`.
    struct Coefficients {
        static let precisionBits = 32 - 8 - 2
        var bounds: [(start: Int, count: Int)] = []
        var taps: [[Int]] = []

        static func bicubic(_ x: Double) -> Double {
            let a = -0.5, x = abs(x)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }

        init(inSize: Int, outSize: Int) {
            let scale = Double(inSize) / Double(outSize)
            let filterScale = max(scale, 1)
            let support = 2.0 * filterScale
            for xx in 0..<outSize {
                let center = (Double(xx) + 0.5) * scale
                let ss = 1 / filterScale
                let xmin = max(Int(center - support + 0.5), 0)
                let xmax = min(Int(center + support + 0.5), inSize) - xmin
                var k = [Double](repeating: 0, count: max(xmax, 0))
                var ww = 0.0
                for x in 0..<max(xmax, 0) {
                    let w = Coefficients.bicubic((Double(x + xmin) - center + 0.5) * ss)
                    k[x] = w
                    ww += w
                }
                let one = Double(1 << Coefficients.precisionBits)
                taps.append(k.map { v in
                    let n = ww != 0 ? v / ww : v
                    return n < 0 ? Int(-0.5 + n * one) : Int(0.5 + n * one)
                })
                bounds.append((xmin, max(xmax, 0)))
            }
        }
    }

    @inline(__always)
    static func clip8(_ v: Int) -> UInt8 {
        if v >= (1 << Coefficients.precisionBits) << 8 { return 255 }
        if v <= 0 { return 0 }
        return UInt8(v >> Coefficients.precisionBits)
    }

    static func horizontal(_ image: RGBImage, rows: Range<Int>, coefficients k: Coefficients) -> RGBImage {
        let outW = k.bounds.count
        var pixels = [UInt8](repeating: 0, count: outW * rows.count * 3)
        let half = 1 << (Coefficients.precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for (oy, y) in rows.enumerated() {
                    let row = y * image.width * 3
                    for xx in 0..<outW {
                        let (start, count) = k.bounds[xx]
                        let taps = k.taps[xx]
                        var s0 = half, s1 = half, s2 = half
                        for x in 0..<count {
                            let p = row + (start + x) * 3, w = taps[x]
                            s0 += Int(src[p]) * w
                            s1 += Int(src[p + 1]) * w
                            s2 += Int(src[p + 2]) * w
                        }
                        let o = (oy * outW + xx) * 3
                        dst[o] = clip8(s0)
                        dst[o + 1] = clip8(s1)
                        dst[o + 2] = clip8(s2)
                    }
                }
            }
        }
        return RGBImage(width: outW, height: rows.count, pixels: pixels)
    }

    /// The vertical pass over an image whose row 0 is source row `firstRow`.
    static func verticalPass(_ image: RGBImage, firstRow: Int, coefficients k: Coefficients) -> RGBImage {
        let outH = k.bounds.count, w = image.width
        var pixels = [UInt8](repeating: 0, count: w * outH * 3)
        let half = 1 << (Coefficients.precisionBits - 1)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for yy in 0..<outH {
                    let (start, count) = k.bounds[yy]
                    let taps = k.taps[yy]
                    for i in 0..<(w * 3) {
                        var s = half
                        for y in 0..<count { s += Int(src[(start - firstRow + y) * w * 3 + i]) * taps[y] }
                        dst[yy * w * 3 + i] = clip8(s)
                    }
                }
            }
        }
        return RGBImage(width: w, height: outH, pixels: pixels)
    }
}

/// The input of a forward pass, N × C × R × R floats in NCHW: photos through the official evaluation
/// transform, an array from a file, or seeded random values; `names` says what each batch item is.
public struct ModelInput {
    public var values: [Float]
    public var batch: Int
    public var resolution: Int
    public var names: [String]

    /// Photos (JPEG, PNG), one batch item each, preprocessed as the official `build_transform` does.
    public static func photos(_ paths: [String], resolution r: Int, channels: Int) throws -> ModelInput {
        guard channels == 3 else { throw ModelError("--image gives 3-channel input; this checkpoint takes \(channels) channels") }
        var values: [Float] = []
        values.reserveCapacity(paths.count * 3 * r * r)
        for path in paths { values += EvaluationTransform.apply(try RGBImage.read(path: path), resolution: r) }
        return ModelInput(values: values, batch: paths.count, resolution: r, names: paths)
    }

    /// An (N, C, R, R) array with R a multiple of 32.
    public static func array(_ x: NPYArray, name: String, channels: Int) throws -> ModelInput {
        guard x.shape.count == 4, x.shape[1] == channels, x.shape[2] == x.shape[3], x.shape[2] % 32 == 0, x.shape[0] >= 1 else {
            throw ModelError("\(name): input must have shape (N, \(channels), R, R) with R a multiple of 32, got \(x.shape)")
        }
        let n = x.shape[0]
        return ModelInput(values: x.values, batch: n, resolution: x.shape[2], names: n == 1 ? [name] : (0..<n).map { "\(name)[\($0)]" })
    }

    /// Seeded values in [−1, 1) (no names: the report shows none).
    public static func random(batch: Int, resolution: Int, channels: Int, seed: UInt64) -> ModelInput {
        var rng = SeededGenerator(seed: seed)
        return ModelInput(values: rng.signedArray(batch * channels * resolution * resolution), batch: batch, resolution: resolution, names: [])
    }
}
