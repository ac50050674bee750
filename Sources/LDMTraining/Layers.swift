import Foundation
import LDMEngine
import LDMReference

/// A trainable tensor with its gradient, both on the backend, and a name for checkpoints.
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    /// The learning-rate multiplier of its parameter group (the Kalman parameters train at 100×).
    public let rateMultiplier: Float

    public init(name: String, value: Tensor, on backend: any Backend, rateMultiplier: Float = 1) throws {
        self.name = name
        self.value = value
        gradient = try backend.makeTensor(value.shape)
        try backend.fill(gradient, with: 0)
        self.rateMultiplier = rateMultiplier
    }
}

/// `y = x·Wᵀ + b` for x [N, in], W [out, in], b [out] (PyTorch's layout and default initialisation:
/// W and b uniform in ±1/√in). Forward and backward run on the backend as matmuls (the bias through a
/// rank-1 product with a ones vector, its gradient as a ones-vector product). With `positiveWeights` the layer
/// uses |W| in place of W (the noise network's positive layers), its gradient taken through |·|.
public final class Linear {
    public let inputs: Int, outputs: Int
    public let weight: Parameter, bias: Parameter
    public let positiveWeights: Bool
    private let backend: any Backend
    private var ones: Tensor?
    /// |W| of the last forward pass (positive layers only).
    private var effectiveWeight: Tensor?

    public convenience init(inputs: Int, outputs: Int, name: String, on backend: any Backend, generator: inout SeededGenerator,
                rateMultiplier: Float = 1) throws {
        let bound = 1 / Double(inputs).squareRoot()
        let draw = { (count: Int, g: inout SeededGenerator) in (0..<count).map { _ in Float((2 * g.uniform() - 1) * bound) } }
        let w = draw(outputs * inputs, &generator), b = draw(outputs, &generator)
        try self.init(inputs: inputs, outputs: outputs, name: name, weight: w, bias: b, on: backend, rateMultiplier: rateMultiplier)
    }

    /// A layer with the given initial W [out, in] and b [out].
    public init(inputs: Int, outputs: Int, name: String, weight w: [Float], bias b: [Float], positiveWeights: Bool = false,
                on backend: any Backend, rateMultiplier: Float = 1) throws {
        guard inputs >= 1, outputs >= 1, w.count == inputs * outputs, b.count == outputs else {
            throw LDMError.shapeMismatch(operation: "Linear \(name)", detail: "W needs \(outputs)×\(inputs) values and b \(outputs), got \(w.count) and \(b.count)")
        }
        self.inputs = inputs
        self.outputs = outputs
        self.positiveWeights = positiveWeights
        self.backend = backend
        weight = try Parameter(name: name + ".weight", value: try backend.upload(w, shape: [outputs, inputs]), on: backend,
                               rateMultiplier: rateMultiplier)
        bias = try Parameter(name: name + ".bias", value: try backend.upload(b, shape: [outputs]), on: backend,
                             rateMultiplier: rateMultiplier)
    }

    private func onesVector(_ n: Int) throws -> Tensor {
        if let ones, ones.count == n { return ones }
        let tensor = try backend.makeTensor([n])
        try backend.fill(tensor, with: 1)
        ones = tensor
        return tensor
    }

    /// y [N, out].
    public func forward(_ x: Tensor) throws -> Tensor {
        let n = x.count / inputs
        guard n * inputs == x.count else {
            throw LDMError.shapeMismatch(operation: "Linear.forward", detail: "input has \(x.count) values, not a multiple of \(inputs)")
        }
        let y = try backend.makeTensor([n, outputs])
        var w = weight.value
        if positiveWeights {
            let absolute = try effectiveWeight ?? backend.makeTensor(weight.value.shape)
            try backend.activation(weight.value, into: absolute, .absolute)
            effectiveWeight = absolute
            w = absolute
        }
        try backend.matmul(try onesVector(n), bias.value, into: y, MatmulShape(m: n, n: outputs, k: 1))
        try backend.matmul(x, w, into: y, MatmulShape(m: n, n: outputs, k: inputs, transposeB: true, beta: 1))
        return y
    }

    /// Accumulates ∂/∂W and ∂/∂b (the gradients are overwritten, not added) and returns ∂/∂x.
    public func backward(_ x: Tensor, _ dy: Tensor) throws -> Tensor {
        let n = x.count / inputs
        try backend.matmul(dy, x, into: weight.gradient, MatmulShape(m: outputs, n: inputs, k: n, transposeA: true))
        try backend.matmul(try onesVector(n), dy, into: bias.gradient, MatmulShape(m: 1, n: outputs, k: n))
        var w = weight.value
        if positiveWeights {
            guard let effectiveWeight else { throw LDMError.invalidArgument("Linear.backward before forward") }
            try backend.activationBackward(weight.value, weight.gradient, into: weight.gradient, .absolute)
            w = effectiveWeight
        }
        let dx = try backend.makeTensor([n, inputs])
        try backend.matmul(dy, w, into: dx, MatmulShape(m: n, n: inputs, k: outputs))
        return dx
    }

    public var parameters: [Parameter] { [weight, bias] }
}

/// BatchNorm1d over the rows of [N, C] (batch_norm.cl): in training the batch statistics normalise and the
/// running statistics follow them (momentum 0.1, the unbiased variance, as PyTorch); in evaluation the running
/// statistics normalise. γ starts at 1 and β at 0. γ and β are 1-D, so LARS leaves them unscaled.
public final class BatchNorm {
    public let name: String
    public let features: Int
    public let gamma: Parameter, beta: Parameter
    /// The running mean and variance (checkpointed with the parameters, not trained).
    public let runningMean: Tensor, runningVariance: Tensor
    public var momentum: Float = 0.1, epsilon: Float = 1e-5
    private let backend: any Backend
    private let batchMean: Tensor, batchVariance: Tensor
    private var input: Tensor?

    public init(features: Int, name: String, on backend: any Backend) throws {
        guard features >= 1 else { throw LDMError.invalidArgument("BatchNorm \(name): need at least one feature") }
        self.features = features
        self.backend = backend
        gamma = try Parameter(name: name + ".weight", value: try backend.upload([Float](repeating: 1, count: features), shape: [features]), on: backend)
        beta = try Parameter(name: name + ".bias", value: try backend.upload([Float](repeating: 0, count: features), shape: [features]), on: backend)
        runningMean = try backend.upload([Float](repeating: 0, count: features), shape: [features])
        runningVariance = try backend.upload([Float](repeating: 1, count: features), shape: [features])
        batchMean = try backend.makeTensor([features])
        batchVariance = try backend.makeTensor([features])
        self.name = name
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let rows = x.count / features
        guard rows * features == x.count, rows >= 1 else {
            throw LDMError.shapeMismatch(operation: "BatchNorm \(name)", detail: "input has \(x.count) values, not rows of \(features)")
        }
        let y = try backend.makeTensor([rows, features])
        let shape = BatchNormShape(rows: rows, columns: features, epsilon: epsilon, training: training)
        if training {
            try backend.batchNorm(x, gamma: gamma.value, beta: beta.value, into: y, mean: batchMean, variance: batchVariance, shape)
            // running ← (1 − m)·running + m·batch (the variance unbiased by N/(N − 1)).
            try backend.scale(runningMean, by: 1 - momentum, into: runningMean)
            try backend.axpy(momentum, batchMean, runningMean)
            try backend.scale(runningVariance, by: 1 - momentum, into: runningVariance)
            try backend.axpy(momentum * Float(rows) / Float(max(rows - 1, 1)), batchVariance, runningVariance)
            input = x
        } else {
            try backend.batchNorm(x, gamma: gamma.value, beta: beta.value, into: y, mean: runningMean, variance: runningVariance, shape)
        }
        return y
    }

    /// Fills ∂/∂γ, ∂/∂β and returns ∂/∂x through the last training-mode forward pass.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let input, input.count == dy.count else {
            throw LDMError.invalidArgument("BatchNorm \(name).backward needs a training-mode forward pass of the same shape first")
        }
        let rows = dy.count / features
        let dx = try backend.makeTensor([rows, features])
        try backend.batchNormBackward(input, dy, gamma: gamma.value, mean: batchMean, variance: batchVariance, dx: dx,
                                      dGamma: gamma.gradient, dBeta: beta.gradient,
                                      BatchNormShape(rows: rows, columns: features, epsilon: epsilon, training: true))
        return dx
    }

    public var parameters: [Parameter] { [gamma, beta] }
}

/// A multilayer perceptron: Linear → [BatchNorm] → activation → … → Linear (nothing after the last layer).
public final class MLP {
    public let layers: [Linear]
    /// One per hidden layer when built with `batchNorm`, else empty.
    public let norms: [BatchNorm]
    public let activation: Activation
    private let backend: any Backend
    /// What the forward pass kept for the backward: each layer's input and each hidden pre-activation.
    private var inputs: [Tensor] = [], preActivations: [Tensor] = []

    /// Layer widths, e.g. [100, 100, 2] for 100 → 100 → 2.
    public init(widths: [Int], activation: Activation = .relu, batchNorm: Bool = false, name: String = "encoder",
                on backend: any Backend, generator: inout SeededGenerator) throws {
        guard widths.count >= 2, widths.allSatisfy({ $0 >= 1 }) else {
            throw LDMError.invalidArgument("MLP: need at least two positive widths, got \(widths)")
        }
        var layers: [Linear] = [], norms: [BatchNorm] = []
        for (index, (a, b)) in zip(widths, widths.dropFirst()).enumerated() {
            layers.append(try Linear(inputs: a, outputs: b, name: "\(name).\(index)", on: backend, generator: &generator))
            if batchNorm && index < widths.count - 2 { norms.append(try BatchNorm(features: b, name: "\(name).\(index).norm", on: backend)) }
        }
        self.layers = layers
        self.norms = norms
        self.activation = activation
        self.backend = backend
    }

    /// The forward pass; `training` selects BatchNorm's batch statistics (and records what the backward needs).
    public func forward(_ x: Tensor, training: Bool = true) throws -> Tensor {
        inputs = []
        preActivations = []
        var h = x
        for (index, layer) in layers.enumerated() {
            inputs.append(h)
            var y = try layer.forward(h)
            if index < layers.count - 1 {
                if !norms.isEmpty { y = try norms[index].forward(y, training: training) }
                preActivations.append(y)
                let activated = try backend.makeTensor(y.shape)
                try backend.activation(y, into: activated, activation)
                h = activated
            } else {
                h = y
            }
        }
        return h
    }

    /// Backward through the last forward pass: fills every parameter's gradient; returns ∂/∂x.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard inputs.count == layers.count else { throw LDMError.invalidArgument("MLP.backward before forward") }
        var g = dy
        for index in stride(from: layers.count - 1, through: 0, by: -1) {
            if index < layers.count - 1 {
                let pre = preActivations[index]
                let through = try backend.makeTensor(pre.shape)
                try backend.activationBackward(pre, g, into: through, activation)
                g = through
                if !norms.isEmpty { g = try norms[index].backward(g) }
            }
            g = try layers[index].backward(inputs[index], g)
        }
        return g
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) + norms.flatMap(\.parameters) }

    /// Moves every parameter toward `online`'s, `p ← m·p + (1 − m)·p_online` (BYOL's momentum target; m = 0 copies),
    /// on the backend. The networks must have the same widths and BatchNorm layout; running statistics stay this
    /// network's own.
    public func track(_ online: MLP, momentum m: Float) throws {
        let mine = parameters, theirs = online.parameters
        guard mine.count == theirs.count, zip(mine, theirs).allSatisfy({ $0.value.shape == $1.value.shape }) else {
            throw LDMError.shapeMismatch(operation: "MLP.track", detail: "the target and the online network differ in shape")
        }
        guard m.isFinite, (0...1).contains(m) else { throw LDMError.invalidArgument("MLP.track: momentum must be in [0, 1], got \(m)") }
        for (target, source) in zip(mine, theirs) {
            try backend.scale(target.value, by: m, into: target.value)
            try backend.axpy(1 - m, source.value, target.value)
        }
    }

    /// The trained parameters and BatchNorm's running statistics by name, for checkpoints.
    public var checkpointTensors: [(String, Tensor)] {
        parameters.map { ($0.name, $0.value) }
            + norms.flatMap { [($0.name + ".running_mean", $0.runningMean), ($0.name + ".running_var", $0.runningVariance)] }
    }
}

/// A parameter-free layer applied to each row of the encoder's output (L2-normalise, softmax): forward on a batch,
/// then backward through that same batch.
public protocol RowHead: AnyObject {
    /// y [N, d] for x [N, d], remembered for ``backward(_:)``.
    func forward(_ x: Tensor) throws -> Tensor
    /// ∂/∂x for ∂/∂y = dy, through the last forward pass.
    func backward(_ dy: Tensor) throws -> Tensor
}

/// Row-wise L2 normalisation `y_i = x_i / max(‖x_i‖, 1e-12)` (PyTorch's `F.normalize`), the projection onto the
/// sphere of sphere-model representations; forward and backward are reduce.cl's normalize kernels.
public final class L2Normalize: RowHead {
    private let backend: any Backend
    private var output: Tensor?, norms: Tensor?

    public init(on backend: any Backend) {
        self.backend = backend
    }

    /// y [N, d] for x [N, d].
    public func forward(_ x: Tensor) throws -> Tensor {
        guard x.shape.rank == 2 else {
            throw LDMError.shapeMismatch(operation: "L2Normalize.forward", detail: "expected N × d rows, got \(x.shape)")
        }
        let shape = RowsShape(rows: x.shape.dims[0], columns: x.shape.dims[1])
        let y = try backend.makeTensor(x.shape), n = try backend.makeTensor([shape.rows])
        try backend.normalizeRows(x, into: y, norms: n, shape)
        (output, norms) = (y, n)
        return y
    }

    /// ∂/∂x = (dy − y·⟨y, dy⟩)/‖x‖ per row, through the last forward pass.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let output, let norms, dy.shape == output.shape else {
            throw LDMError.invalidArgument("L2Normalize.backward needs a forward pass of the same shape first")
        }
        let dx = try backend.makeTensor(dy.shape)
        try backend.normalizeRowsBackward(output, norms, dy, into: dx, RowsShape(rows: dy.shape.dims[0], columns: dy.shape.dims[1]))
        return dx
    }
}

/// Row-wise softmax `y_i = softmax(x_i)`, the head that turns a clustering encoder's logits into class
/// probabilities; forward and backward are reduce.cl's softmax kernels.
public final class Softmax: RowHead {
    private let backend: any Backend
    private var output: Tensor?

    public init(on backend: any Backend) {
        self.backend = backend
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        guard x.shape.rank == 2 else {
            throw LDMError.shapeMismatch(operation: "Softmax.forward", detail: "expected N × K rows, got \(x.shape)")
        }
        let y = try backend.makeTensor(x.shape)
        try backend.softmaxRows(x, into: y, scale: 1, RowsShape(rows: x.shape.dims[0], columns: x.shape.dims[1]))
        output = y
        return y
    }

    /// ∂/∂x = y ⊙ (dy − ⟨y, dy⟩) per row.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let output, dy.shape == output.shape else {
            throw LDMError.invalidArgument("Softmax.backward needs a forward pass of the same shape first")
        }
        let dx = try backend.makeTensor(dy.shape)
        try backend.softmaxRowsBackward(output, dy, into: dx, scale: 1, RowsShape(rows: dy.shape.dims[0], columns: dy.shape.dims[1]))
        return dx
    }
}
