import LDMEngine

/// BatchNorm1d over the rows of [N, C] (batch_norm.cl), or BatchNorm2d over the channels of an NHWC activation (its
/// N·H·W × C view; the output keeps the input's shape): in training the batch statistics normalise and the running
/// statistics follow them (momentum 0.1, the unbiased variance, as PyTorch); in evaluation the running statistics
/// normalise. γ starts at 1 and β at 0. γ and β are 1-D, so LARS leaves them unscaled.
public final class BatchNorm: Module {
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
        let filled = { (value: Float) in try backend.upload([Float](repeating: value, count: features), shape: [features]) }
        gamma = try Parameter(name: name + ".weight", value: try filled(1), on: backend)
        beta = try Parameter(name: name + ".bias", value: try filled(0), on: backend)
        runningMean = try filled(0)
        runningVariance = try filled(1)
        batchMean = try backend.makeTensor([features])
        batchVariance = try backend.makeTensor([features])
        self.name = name
    }

    public var parameters: [Parameter] { [gamma, beta] }
    public var state: [(String, Tensor)] { [(name + ".running_mean", runningMean), (name + ".running_var", runningVariance)] }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let rows = x.count / features
        guard rows * features == x.count, rows >= 1 else {
            throw LDMError.shapeMismatch(operation: "BatchNorm \(name)", detail: "input has \(x.count) values, not rows of \(features)")
        }
        let y = try backend.makeTensor(x.shape)
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
            input = nil   // an evaluation pass has no backward
        }
        return y
    }

    /// Adds ∂/∂γ, ∂/∂β and returns ∂/∂x through the last (training-mode) forward pass.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let input, input.count == dy.count else {
            throw LDMError.invalidArgument("BatchNorm \(name).backward needs a training-mode forward pass of the same shape first")
        }
        let rows = dy.count / features
        let dx = try backend.makeTensor(input.shape)
        let dGamma = try backend.makeTensor([features]), dBeta = try backend.makeTensor([features])
        try backend.batchNormBackward(input, dy, gamma: gamma.value, mean: batchMean, variance: batchVariance, dx: dx,
                                      dGamma: dGamma, dBeta: dBeta,
                                      BatchNormShape(rows: rows, columns: features, epsilon: epsilon, training: true))
        try backend.axpy(1, dGamma, gamma.gradient)
        try backend.axpy(1, dBeta, beta.gradient)
        return dx
    }
}
