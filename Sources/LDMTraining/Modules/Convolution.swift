import LDMEngine
import LDMReference

/// A 2-D convolution on NHWC activations (conv2d.cl): `y [N, Ho, Wo, Cout]` for `x [N, H, W, Cin]`, a square
/// `kernel × kernel` filter bank W [Cout, kernel, kernel, Cin] at `stride`, zero padding, and an optional bias.
/// PyTorch's default initialisation: W and b uniform in ±1/√(Cin·kernel²). The im2col matrix of the last forward is
/// kept for the weight gradient.
public final class Conv2d: Module {
    public let inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int, padding: Int
    public let weight: Parameter, bias: Parameter?
    /// False for a network's first layer: nothing upstream needs ∂L/∂x, so the backward skips it (and returns an
    /// empty tensor).
    public var computesInputGradient = true
    private let backend: any Backend
    private var columns: Tensor?, shape: Conv2dShape?

    public init(inputChannels: Int, outputChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true,
                name: String, on backend: any Backend, generator: inout SeededGenerator) throws {
        guard inputChannels >= 1, outputChannels >= 1, kernel >= 1, stride >= 1, padding >= 0, padding < kernel else {
            throw LDMError.invalidArgument("Conv2d \(name): need positive channels, kernel and stride, and 0 ≤ padding < kernel")
        }
        (self.inputChannels, self.outputChannels, self.kernel, self.stride, self.padding) = (inputChannels, outputChannels, kernel, stride, padding)
        self.backend = backend
        let fanIn = inputChannels * kernel * kernel, bound = 1 / Double(fanIn).squareRoot()
        let draw = { (count: Int, g: inout SeededGenerator) in (0..<count).map { _ in Float((2 * g.uniform() - 1) * bound) } }
        weight = try Parameter(name: name + ".weight", value: try backend.upload(draw(outputChannels * fanIn, &generator),
                                                                                   shape: [outputChannels, kernel, kernel, inputChannels]),
                               on: backend)
        self.bias = bias ? try Parameter(name: name + ".bias", value: try backend.upload(draw(outputChannels, &generator),
                                                                                         shape: [outputChannels]), on: backend) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// The convolution's shape for an input [N, H, W, Cin].
    public func shape(for x: Tensor) throws -> Conv2dShape {
        let d = x.shape.dims
        guard d.count == 4, d[3] == inputChannels else {
            throw LDMError.shapeMismatch(operation: "Conv2d.forward", detail: "expected an N × H × W × \(inputChannels) input, got \(x.shape)")
        }
        let s = Conv2dShape(batch: d[0], height: d[1], width: d[2], inputChannels: inputChannels, outputChannels: outputChannels,
                            kernel: kernel, stride: stride, padding: padding)
        try s.validate("Conv2d.forward")
        return s
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let s = try shape(for: x)
        let y = try backend.makeTensor(s.outputShape)
        let patches = s.isPointwise ? nil : try backend.makeTensor([s.positions, s.patch])
        try backend.conv2d(x, weight: weight.value, bias: bias?.value, into: y, columns: patches, s)
        (columns, shape) = (patches ?? x, s)
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let s = try recorded(shape, "Conv2d"), patches = try recorded(columns, "Conv2d")
        guard dy.count == s.outputCount else {
            throw LDMError.shapeMismatch(operation: "Conv2d.backward", detail: "dy has \(dy.count) values, the forward gave \(s.outputShape)")
        }
        let dWeight = try backend.makeTensor(s.weightShape), dBias = try bias.map { _ in try backend.makeTensor([s.outputChannels]) }
        let dx = computesInputGradient ? try backend.makeTensor(s.inputShape) : nil
        let dColumns = computesInputGradient && !s.isPointwise ? try backend.makeTensor([s.positions, s.patch]) : nil
        try backend.conv2dBackward(dy, weight: weight.value, columns: patches, dWeight: dWeight, dBias: dBias, dx: dx,
                                   dColumns: dColumns, s)
        try backend.axpy(1, dWeight, weight.gradient)
        if let bias, let dBias { try backend.axpy(1, dBias, bias.gradient) }
        columns = nil   // the largest record of a forward pass; freed for the next step's allocations
        return try dx ?? backend.makeTensor([0])
    }
}

/// Max or average pooling of NHWC activations (pool.cl) over `window × window` windows at `stride`.
public final class Pool2d: Module {
    public let kind: PoolKind, window: Int, stride: Int, padding: Int
    private let backend: any Backend
    private var input: Tensor?, shape: PoolShape?

    public init(_ kind: PoolKind, window: Int, stride: Int, padding: Int = 0, on backend: any Backend) {
        (self.kind, self.window, self.stride, self.padding, self.backend) = (kind, window, stride, padding, backend)
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let d = x.shape.dims
        guard d.count == 4 else {
            throw LDMError.shapeMismatch(operation: "Pool2d.forward", detail: "expected an N × H × W × C input, got \(x.shape)")
        }
        let s = PoolShape(batch: d[0], height: d[1], width: d[2], channels: d[3], window: window, stride: stride, padding: padding,
                          kind: kind)
        try s.validate("Pool2d.forward")
        let y = try backend.makeTensor(s.outputShape)
        try backend.pool(x, into: y, s)
        (input, shape) = (x, s)
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let x = try recorded(input, "Pool2d"), s = try recorded(shape, "Pool2d")
        let dx = try backend.makeTensor(s.inputShape)
        try backend.poolBackward(x, dy, into: dx, s)
        return dx
    }
}

/// The mean over the positions of each image: `[N, H, W, C] → [N, C]` (pool.cl's global average pooling), the
/// representation of a convolutional encoder.
public final class GlobalAveragePool: Module {
    private let backend: any Backend
    private var shape: GlobalPoolShape?, inputShape: TensorShape?

    public init(on backend: any Backend) {
        self.backend = backend
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let d = x.shape.dims
        guard d.count == 4 else {
            throw LDMError.shapeMismatch(operation: "GlobalAveragePool.forward", detail: "expected an N × H × W × C input, got \(x.shape)")
        }
        let s = GlobalPoolShape(batch: d[0], positions: d[1] * d[2], channels: d[3])
        let y = try backend.makeTensor([d[0], d[3]])
        try backend.globalAveragePool(x, into: y, s)
        (shape, inputShape) = (s, x.shape)
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let s = try recorded(shape, "GlobalAveragePool"), input = try recorded(inputShape, "GlobalAveragePool")
        let dx = try backend.makeTensor(input)
        try backend.globalAveragePoolBackward(dy, into: dx, s)
        return dx
    }
}

/// A residual block: `act(main(x) + shortcut(x))` (act = ReLU unless told) with `shortcut` the identity or a projection (ResNet's basic
/// block is main = conv 3×3 → BN → ReLU → conv 3×3 → BN, shortcut = conv 1×1 at the block's stride → BN when the
/// shape changes). The backward sends ∂L/∂y through both branches and adds them.
public final class Residual: Module {
    public let main: Sequential, shortcut: Sequential?
    private let backend: any Backend
    private let relu: ActivationLayer

    public init(main: Sequential, shortcut: Sequential?, activation: Activation = .relu, on backend: any Backend) {
        (self.main, self.shortcut, self.backend) = (main, shortcut, backend)
        relu = ActivationLayer(activation, on: backend)
    }

    public var parameters: [Parameter] { main.parameters + (shortcut?.parameters ?? []) }
    public var state: [(String, Tensor)] { main.state + (shortcut?.state ?? []) }
    public var children: [any Module] { [main] + (shortcut.map { [$0] } ?? []) }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = try main.forward(x, training: training)
        let skip = try shortcut?.forward(x, training: training) ?? x
        guard skip.shape == y.shape else {
            throw LDMError.shapeMismatch(operation: "Residual.forward", detail: "the main branch gives \(y.shape), the shortcut \(skip.shape)")
        }
        let sum = try backend.makeTensor(y.shape)
        try backend.add(y, skip, into: sum)
        return try relu.forward(sum, training: training)
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let dSum = try relu.backward(dy)
        let dx = try main.backward(dSum)
        let dSkip = try shortcut?.backward(dSum) ?? dSum
        try backend.add(dx, dSkip, into: dx)
        return dx
    }
}
