import LDMEngine
import LDMReference

/// `y = x·Wᵀ + b` for x [N, in], W [out, in], b [out] (PyTorch's layout and default initialisation: W and b uniform
/// in ±1/√in). Forward and backward are matmuls on the backend (the bias through a rank-1 product with a ones
/// vector, its gradient as a ones-vector product). With `positiveWeights` the layer uses |W| in place of W (the
/// noise network's positive layers), its gradient taken through |·|.
public final class Linear: Module {
    public let inputs: Int, outputs: Int
    public let weight: Parameter, bias: Parameter
    public let positiveWeights: Bool
    private let backend: any Backend
    private var ones: Tensor?
    /// What the backward needs: the last input, and |W| of the last forward pass (positive layers only).
    private var input: Tensor?, effectiveWeight: Tensor?

    /// A layer with PyTorch's default initialisation drawn from `generator` (W first, then b).
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

    public var parameters: [Parameter] { [weight, bias] }

    private func onesVector(_ n: Int) throws -> Tensor {
        if let ones, ones.count == n { return ones }
        let tensor = try backend.makeTensor([n])
        try backend.fill(tensor, with: 1)
        ones = tensor
        return tensor
    }

    /// y [N, out] for x [N, in] (any shape of N·in elements).
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
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
        input = x
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let x = try recorded(input, "Linear")
        let n = x.count / inputs
        guard dy.count == n * outputs else {
            throw LDMError.shapeMismatch(operation: "Linear.backward", detail: "dy has \(dy.count) values, the forward gave \(n) × \(outputs)")
        }
        var w = weight.value
        if positiveWeights {
            // ∂/∂|W| into a scratch tensor, through |·| (sign(W)), then added.
            let w1 = try recorded(effectiveWeight, "Linear")
            let scratch = try backend.makeTensor(weight.value.shape)
            try backend.matmul(dy, x, into: scratch, MatmulShape(m: outputs, n: inputs, k: n, transposeA: true))
            try backend.activationBackward(weight.value, scratch, into: scratch, .absolute)
            try backend.axpy(1, scratch, weight.gradient)
            w = w1
        } else {
            try backend.matmul(dy, x, into: weight.gradient, MatmulShape(m: outputs, n: inputs, k: n, transposeA: true, beta: 1))
        }
        try backend.matmul(try onesVector(n), dy, into: bias.gradient, MatmulShape(m: 1, n: outputs, k: n, beta: 1))
        let dx = try backend.makeTensor([n, inputs])
        try backend.matmul(dy, w, into: dx, MatmulShape(m: n, n: inputs, k: outputs))
        return dx
    }
}

/// An elementwise non-linearity (activation.cl) as a module.
public final class ActivationLayer: Module {
    public let kind: Activation
    private let backend: any Backend
    private var input: Tensor?

    public init(_ kind: Activation, on backend: any Backend) {
        self.kind = kind
        self.backend = backend
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let y = try backend.makeTensor(x.shape)
        try backend.activation(x, into: y, kind)
        input = x
        return y
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        let x = try recorded(input, "ActivationLayer(\(kind))")
        let dx = try backend.makeTensor(x.shape)
        try backend.activationBackward(x, dy, into: dx, kind)
        return dx
    }
}
