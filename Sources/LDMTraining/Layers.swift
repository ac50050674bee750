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

/// A multilayer perceptron: Linear → activation → … → Linear (no activation after the last layer).
public final class MLP {
    public let layers: [Linear]
    public let activation: Activation
    private let backend: any Backend
    /// What the forward pass kept for the backward: each layer's input and each hidden pre-activation.
    private var inputs: [Tensor] = [], preActivations: [Tensor] = []

    /// Layer widths, e.g. [100, 100, 2] for 100 → 100 → 2.
    public init(widths: [Int], activation: Activation = .relu, name: String = "encoder", on backend: any Backend,
                generator: inout SeededGenerator) throws {
        guard widths.count >= 2, widths.allSatisfy({ $0 >= 1 }) else {
            throw LDMError.invalidArgument("MLP: need at least two positive widths, got \(widths)")
        }
        var layers: [Linear] = []
        for (index, (a, b)) in zip(widths, widths.dropFirst()).enumerated() {
            layers.append(try Linear(inputs: a, outputs: b, name: "\(name).\(index)", on: backend, generator: &generator))
        }
        self.layers = layers
        self.activation = activation
        self.backend = backend
    }

    public func forward(_ x: Tensor) throws -> Tensor {
        inputs = []
        preActivations = []
        var h = x
        for (index, layer) in layers.enumerated() {
            inputs.append(h)
            let y = try layer.forward(h)
            if index < layers.count - 1 {
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
            }
            g = try layers[index].backward(inputs[index], g)
        }
        return g
    }

    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
}
