import Foundation

/// Shapes of the image kernels (conv2d.cl, pool.cl, augment.cl, gather.cl). Images and activations are NHWC,
/// row-major: element (n, y, x, c) of an `N × H × W × C` tensor sits at `((n·H + y)·W + x)·C + c`, so an
/// activation is also an `N·H·W × C` matrix (what batch_norm.cl normalises over channels and what a 1 × 1
/// convolution multiplies).

/// Largest element count an image kernel indexes (the OpenCL kernels use 32-bit indices).
let imageKernelLimit = Int(Int32.max)

/// The product of `factors`, or nil when it overflows or exceeds ``imageKernelLimit``.
func checkedProduct(_ factors: [Int]) -> Int? {
    var total = 1
    for factor in factors {
        let (product, overflow) = total.multipliedReportingOverflow(by: factor)
        guard !overflow, product <= imageKernelLimit else { return nil }
        total = product
    }
    return total
}

/// The output extent of a sliding window: `(extent + 2·padding − window) / stride + 1`.
func slidingExtent(_ extent: Int, window: Int, stride: Int, padding: Int) -> Int {
    (extent + 2 * padding - window) / stride + 1
}

/// A 2-D convolution of `x [N, H, W, Cin]` with a square `kernel × kernel` filter bank `w [Cout, kernel, kernel, Cin]`
/// at `stride`, zero-padded by `padding` on every side: `y [N, Ho, Wo, Cout]` with
/// `y[n, i, j, o] = b[o] + Σ_{u, v, c} w[o, u, v, c] · x[n, i·s − p + u, j·s − p + v, c]`.
///
/// conv2d.cl computes it as im2col (`columns [N·Ho·Wo, kernel·kernel·Cin]`, column `(u·kernel + v)·Cin + c`) and one
/// product `y = columns · wᵀ`; the weight layout is Linear's `[out, in]` with `in` = one patch, so a 1 × 1
/// convolution is exactly a Linear layer on the `N·H·W × C` view.
public struct Conv2dShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int, height: Int, width: Int, inputChannels: Int, outputChannels: Int
    public var kernel: Int, stride: Int, padding: Int

    public init(batch: Int, height: Int, width: Int, inputChannels: Int, outputChannels: Int, kernel: Int,
                stride: Int = 1, padding: Int = 0) {
        (self.batch, self.height, self.width) = (batch, height, width)
        (self.inputChannels, self.outputChannels) = (inputChannels, outputChannels)
        (self.kernel, self.stride, self.padding) = (kernel, stride, padding)
    }

    public var outputHeight: Int { slidingExtent(height, window: kernel, stride: stride, padding: padding) }
    public var outputWidth: Int { slidingExtent(width, window: kernel, stride: stride, padding: padding) }
    /// Rows of the im2col matrix (output positions) and its row length (one patch).
    public var positions: Int { batch * outputHeight * outputWidth }
    public var patch: Int { kernel * kernel * inputChannels }
    public var inputCount: Int { batch * height * width * inputChannels }
    public var outputCount: Int { positions * outputChannels }
    public var weightCount: Int { outputChannels * patch }
    public var columnCount: Int { positions * patch }
    /// A 1 × 1 convolution at stride 1 without padding: the input already is its im2col matrix.
    public var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }
    /// The input, output and weight shapes as tensors.
    public var inputShape: TensorShape { [batch, height, width, inputChannels] }
    public var outputShape: TensorShape { [batch, outputHeight, outputWidth, outputChannels] }
    public var weightShape: TensorShape { [outputChannels, kernel, kernel, inputChannels] }
    /// Multiply-adds ×2 of the forward product.
    public var flops: Double { 2 * Double(positions) * Double(outputChannels) * Double(patch) }

    public var description: String {
        "\(batch)x\(height)x\(width)x\(inputChannels) * \(kernel)x\(kernel)→\(outputChannels) s\(stride) p\(padding)"
    }

    /// Throws unless every extent is positive, the padding is smaller than the kernel, the output is non-empty and
    /// every tensor's element count fits the kernels' 32-bit indexing.
    public func validate(_ operation: String) throws {
        let op = "\(operation) \(self)"
        guard batch >= 1, height >= 1, width >= 1, inputChannels >= 1, outputChannels >= 1, kernel >= 1, stride >= 1,
              padding >= 0,
              [batch, height, width, inputChannels, outputChannels, kernel, stride, padding].allSatisfy({ $0 <= imageKernelLimit }) else {
            throw LDMError.shapeMismatch(operation: op, detail: "sizes, kernel and stride must be positive and padding ≥ 0")
        }
        guard padding < kernel, kernel <= height + 2 * padding, kernel <= width + 2 * padding else {
            throw LDMError.shapeMismatch(operation: op, detail: "the kernel must fit the padded image and the padding be smaller than the kernel")
        }
        guard checkedProduct([batch, height, width, inputChannels]) != nil,
              let positions = checkedProduct([batch, outputHeight, outputWidth]),
              checkedProduct([positions, kernel, kernel, inputChannels]) != nil,
              checkedProduct([positions, outputChannels]) != nil,
              checkedProduct([outputChannels, kernel, kernel, inputChannels]) != nil else {
            throw LDMError.shapeMismatch(operation: op, detail: "a tensor would exceed \(imageKernelLimit) elements")
        }
    }
}

/// The two window reductions of pool.cl.
public enum PoolKind: String, Sendable, Hashable, CaseIterable, Codable {
    /// The window's largest value (padding never wins); the backward sends the gradient to the first maximal entry.
    case max
    /// The window's sum over `window²` (padding counts as zeros, PyTorch's `count_include_pad=True`).
    case average
}

/// A `window × window` pooling of `x [N, H, W, C]` at `stride`, padded by `padding` (at most half the window, so
/// every window holds an input): `y [N, Ho, Wo, C]`.
public struct PoolShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int, height: Int, width: Int, channels: Int
    public var window: Int, stride: Int, padding: Int
    public var kind: PoolKind

    public init(batch: Int, height: Int, width: Int, channels: Int, window: Int, stride: Int, padding: Int = 0,
                kind: PoolKind) {
        (self.batch, self.height, self.width, self.channels) = (batch, height, width, channels)
        (self.window, self.stride, self.padding, self.kind) = (window, stride, padding, kind)
    }

    public var outputHeight: Int { slidingExtent(height, window: window, stride: stride, padding: padding) }
    public var outputWidth: Int { slidingExtent(width, window: window, stride: stride, padding: padding) }
    public var inputCount: Int { batch * height * width * channels }
    public var outputCount: Int { batch * outputHeight * outputWidth * channels }
    public var inputShape: TensorShape { [batch, height, width, channels] }
    public var outputShape: TensorShape { [batch, outputHeight, outputWidth, channels] }

    public var description: String {
        "\(kind) \(batch)x\(height)x\(width)x\(channels) w\(window) s\(stride) p\(padding)"
    }

    public func validate(_ operation: String) throws {
        let op = "\(operation) \(self)"
        guard batch >= 1, height >= 1, width >= 1, channels >= 1, window >= 1, stride >= 1, padding >= 0,
              [batch, height, width, channels, window, stride, padding].allSatisfy({ $0 <= imageKernelLimit }) else {
            throw LDMError.shapeMismatch(operation: op, detail: "sizes, window and stride must be positive and padding ≥ 0")
        }
        guard 2 * padding <= window, window <= height + 2 * padding, window <= width + 2 * padding else {
            throw LDMError.shapeMismatch(operation: op, detail: "the padding may be at most half the window, which must fit the padded image")
        }
        guard checkedProduct([batch, height, width, channels]) != nil else {
            throw LDMError.shapeMismatch(operation: op, detail: "the input would exceed \(imageKernelLimit) elements")
        }
    }
}

/// The mean over the `positions = H·W` rows of each image of `x [N, H·W, C]`: `y [N, C]` (global average pooling).
public struct GlobalPoolShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int, positions: Int, channels: Int

    public init(batch: Int, positions: Int, channels: Int) {
        (self.batch, self.positions, self.channels) = (batch, positions, channels)
    }

    public var inputCount: Int { batch * positions * channels }
    public var outputCount: Int { batch * channels }
    public var description: String { "\(batch)x\(positions)x\(channels)" }

    public func validate(_ operation: String) throws {
        guard batch >= 1, positions >= 1, channels >= 1, checkedProduct([batch, positions, channels]) != nil else {
            throw LDMError.shapeMismatch(operation: "\(operation) \(self)",
                                         detail: "sizes must be positive and the input at most \(imageKernelLimit) elements")
        }
    }
}

/// `out[i, :] = table[index[offset + i], :]` for `i < count`: rows of a `rows × columns` table picked by a tensor of
/// indices (whole numbers stored as float32, exact below 2²⁴). An index outside `0..<rows` gives a row of NaN, so a
/// bad index is visible instead of reading outside the table.
public struct GatherShape: Hashable, Sendable, CustomStringConvertible {
    public var rows: Int, columns: Int, count: Int, offset: Int

    /// Largest table the float32 indices address exactly.
    public static let maximumRows = 1 << 24

    public init(rows: Int, columns: Int, count: Int, offset: Int = 0) {
        (self.rows, self.columns, self.count, self.offset) = (rows, columns, count, offset)
    }

    public var description: String { "\(count) of \(rows)x\(columns) from \(offset)" }

    public func validate(_ operation: String) throws {
        let op = "\(operation) \(self)"
        guard rows >= 1, columns >= 1, count >= 0, offset >= 0 else {
            throw LDMError.shapeMismatch(operation: op, detail: "rows and columns must be positive, count and offset ≥ 0")
        }
        guard rows <= Self.maximumRows else {
            throw LDMError.shapeMismatch(operation: op, detail: "at most \(Self.maximumRows) rows (float32 indices are exact below 2²⁴)")
        }
        guard checkedProduct([rows, columns]) != nil, checkedProduct([max(count, 1), columns]) != nil,
              offset <= imageKernelLimit - count else {
            throw LDMError.shapeMismatch(operation: op, detail: "a tensor would exceed \(imageKernelLimit) elements")
        }
    }
}

/// The two augmented views augment.cl makes of each of `batch` images `[B, H, W, C]` (values in [0, 1]): view
/// `v < B` is the first view of image v and view `B + v` its second, so `views [2B, Ho, Wo, C]` splits into the two
/// halves a two-view objective compares. Per view, from the counter-based generator keyed by
/// (`seed`, `counter`, view):
///
/// 1. a random resized crop: area share s ~ U(scale), log aspect ratio ~ U(log ratio), w = √(s·H·W·r),
///    h = √(s·H·W / r), retried up to 10 times until it fits (else the whole image), its corner uniform over the
///    positions that fit; bilinearly resampled to Ho × Wo (pixel centres, borders replicated);
/// 2. a horizontal flip with probability `flipProbability`;
/// 3. brightness: ×b, b ~ U(1 ± brightness), clamped to [0, 1];
/// 4. contrast: c·x + (1 − c)·b·m̄, c ~ U(1 ± contrast), m̄ the source image's mean, clamped to [0, 1];
/// 5. additive Gaussian noise σ = `noise` (Box–Muller, one normal per output value);
/// 6. normalisation (x − `mean`) / `standardDeviation`.
///
/// The generator's draws are exact float32 uniforms from integer hashing, so every backend makes the same views for
/// the same seed and counter (to float rounding), and nothing random travels to the device.
public struct AugmentShape: Hashable, Sendable, CustomStringConvertible {
    public var batch: Int, height: Int, width: Int, channels: Int
    public var outputHeight: Int, outputWidth: Int
    public var scale: ClosedRange<Float> = 0.5...1
    public var ratio: ClosedRange<Float> = Float(3.0 / 4)...Float(4.0 / 3)
    public var flipProbability: Float = 0.5
    public var brightness: Float = 0
    public var contrast: Float = 0
    public var noise: Float = 0
    public var mean: Float = 0, standardDeviation: Float = 1
    public var seed: UInt64 = 0
    /// Which draw of the generator (the training step), so every step makes new views.
    public var counter: UInt64 = 0
    /// Where this batch sits in a larger one whose views it makes (a data-parallel rank's share): image i here is
    /// image `imageOffset + i` of a batch of `totalBatch` (nil: this batch), and draws from that image's streams, so
    /// the ranks together make exactly the views one process makes of the whole batch.
    public var imageOffset = 0, totalBatch: Int?

    /// Values per view in the parameter tensor: x₀, y₀, w, h, flip, brightness factor, contrast factor, source mean.
    public static let parameterCount = 8
    /// Crop attempts before the whole image is taken.
    public static let cropAttempts = 10

    public init(batch: Int, height: Int, width: Int, channels: Int, outputHeight: Int? = nil, outputWidth: Int? = nil) {
        (self.batch, self.height, self.width, self.channels) = (batch, height, width, channels)
        self.outputHeight = outputHeight ?? height
        self.outputWidth = outputWidth ?? width
    }

    public var views: Int { 2 * batch }
    /// The generator stream of view `view` (< 2·batch): its image's first view is stream `image`, its second
    /// stream `totalBatch + image`, numbering the images of the whole batch.
    public func stream(ofView view: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: view + imageOffset + (view >= batch ? (totalBatch ?? batch) - batch : 0))
    }
    /// log of the aspect-ratio bounds, computed once on the host so every backend draws from the same interval.
    public var logRatio: (Float, Float) { (Foundation.log(ratio.lowerBound), Foundation.log(ratio.upperBound)) }
    public var inputCount: Int { batch * height * width * channels }
    public var outputCount: Int { views * outputHeight * outputWidth * channels }
    public var parameterShape: TensorShape { [views, Self.parameterCount] }
    public var outputShape: TensorShape { [views, outputHeight, outputWidth, channels] }

    public var description: String {
        "\(batch)x\(height)x\(width)x\(channels) → 2x\(outputHeight)x\(outputWidth)"
    }

    public func validate(_ operation: String) throws {
        let op = "\(operation) \(self)"
        guard batch >= 1, height >= 1, width >= 1, channels >= 1, outputHeight >= 1, outputWidth >= 1,
              [batch, height, width, channels, outputHeight, outputWidth].allSatisfy({ $0 <= imageKernelLimit }) else {
            throw LDMError.shapeMismatch(operation: op, detail: "sizes must be positive and at most \(imageKernelLimit)")
        }
        guard checkedProduct([batch, height, width, channels]) != nil,
              checkedProduct([2, batch, outputHeight, outputWidth, channels]) != nil else {
            throw LDMError.shapeMismatch(operation: op, detail: "a tensor would exceed \(imageKernelLimit) elements")
        }
        let total = totalBatch ?? batch
        guard imageOffset >= 0, total <= imageKernelLimit, imageOffset <= total - batch else {
            throw LDMError.shapeMismatch(operation: op, detail: "images \(imageOffset)..<\(imageOffset + batch) do not lie in a batch of \(total)")
        }
        let problems: [(Bool, String)] = [
            (scale.lowerBound > 0 && scale.upperBound <= 1, "the crop scale must lie in (0, 1], got \(scale)"),
            (ratio.lowerBound > 0 && ratio.upperBound.isFinite, "the crop aspect ratios must be positive and finite, got \(ratio)"),
            ((0...1).contains(flipProbability), "the flip probability must be in [0, 1], got \(flipProbability)"),
            (brightness.isFinite && (0...1).contains(brightness), "brightness jitter must be in [0, 1], got \(brightness)"),
            (contrast.isFinite && (0...1).contains(contrast), "contrast jitter must be in [0, 1], got \(contrast)"),
            (noise.isFinite && noise >= 0 && noise <= 10, "the noise σ must be in [0, 10], got \(noise)"),
            (mean.isFinite && standardDeviation.isFinite && standardDeviation > 0,
             "the normalisation needs a finite mean and a positive standard deviation, got \(mean), \(standardDeviation)"),
        ]
        if let (_, problem) = problems.first(where: { !$0.0 }) { throw LDMError.invalidArgument("\(op): \(problem)") }
    }
}

/// The counter-based generator of augment.cl: a uniform in [0, 1) with 24 random bits for each (seed, counter,
/// stream, draw), from three rounds of the SplitMix64 finaliser. No state: any draw can be made on any device in any
/// order, and the OpenCL kernel computes the identical bits.
public enum CounterRandom {
    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The draw's 24 random bits as an exact float32 in [0, 1).
    @inline(__always)
    public static func uniform(seed: UInt64, counter: UInt64, stream: UInt32, draw: UInt32) -> Float {
        var z = mix(seed &+ 0x9E37_79B9_7F4A_7C15 &* (counter &+ 1))
        z = mix(z ^ (UInt64(stream) &* 0xD1B5_4A32_D192_ED03 &+ 1))
        z = mix(z &+ UInt64(draw) &* 0x8CB9_2BA7_2F3D_8DD7)
        return Float(z >> 40) * (1 / 16_777_216)
    }

    /// The draw numbers of augment.cl: two per crop attempt, then the crop corner, flip, brightness, contrast, and
    /// from ``firstNoiseDraw`` two per output value for the Box–Muller normal.
    public static let cornerXDraw: UInt32 = 20, cornerYDraw: UInt32 = 21, flipDraw: UInt32 = 22
    public static let brightnessDraw: UInt32 = 23, contrastDraw: UInt32 = 24, firstNoiseDraw: UInt32 = 32
}
