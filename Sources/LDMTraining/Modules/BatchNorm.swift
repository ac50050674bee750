import LDMEngine
import LDMParallel

/// BatchNorm1d over the rows of [N, C] (batch_norm.cl), or BatchNorm2d over the channels of an NHWC activation (its
/// N·H·W × C view; the output keeps the input's shape): in training the batch statistics normalise and the running
/// statistics follow them (momentum 0.1, the unbiased variance, as PyTorch); in evaluation the running statistics
/// normalise. γ starts at 1 and β at 0. γ and β are 1-D, so LARS leaves them unscaled.
///
/// With a ``group`` of several ranks (`--sync-batch-norm`) the training statistics are those of every rank's rows
/// together, as one process computes them for the whole batch: the forward all-reduces each channel's count, sum
/// and sum of squares, and the backward the two sums its gradient needs (Σ ∂y and Σ ∂y·x̂).
public final class BatchNorm: Module {
    public let name: String
    public let features: Int
    public let gamma: Parameter, beta: Parameter
    /// The running mean and variance (checkpointed with the parameters, not trained).
    public let runningMean: Tensor, runningVariance: Tensor
    public var momentum: Float = 0.1, epsilon: Float = 1e-5
    /// The ranks whose rows share the statistics (nil: this process's rows alone).
    public var group: ProcessGroup?
    private let backend: any Backend
    private let batchMean: Tensor, batchVariance: Tensor
    private var input: Tensor?
    /// The rows the last training statistics covered (over every rank when synchronised).
    private var statisticsRows = 0

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
    private var synchronised: ProcessGroup? { group.flatMap { $0.isDistributed ? $0 : nil } }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        let rows = x.count / features
        guard rows * features == x.count, rows >= 1 else {
            throw LDMError.shapeMismatch(operation: "BatchNorm \(name)", detail: "input has \(x.count) values, not rows of \(features)")
        }
        let y = try backend.makeTensor(x.shape)
        let shape = BatchNormShape(rows: rows, columns: features, epsilon: epsilon, training: training)
        if training {
            try backend.batchNorm(x, gamma: gamma.value, beta: beta.value, into: y, mean: batchMean, variance: batchVariance, shape)
            statisticsRows = rows
            if let group = synchronised {
                statisticsRows = try synchroniseStatistics(rows: rows, group)
                var global = shape
                global.training = false   // normalise by the statistics just written, those of every rank's rows
                try backend.batchNorm(x, gamma: gamma.value, beta: beta.value, into: y, mean: batchMean, variance: batchVariance, global)
            }
            // running ← (1 − m)·running + m·batch (the variance unbiased by N/(N − 1)).
            let n = Float(statisticsRows)
            try backend.scale(runningMean, by: 1 - momentum, into: runningMean)
            try backend.axpy(momentum, batchMean, runningMean)
            try backend.scale(runningVariance, by: 1 - momentum, into: runningVariance)
            try backend.axpy(momentum * n / max(n - 1, 1), batchVariance, runningVariance)
            input = x
        } else {
            try backend.batchNorm(x, gamma: gamma.value, beta: beta.value, into: y, mean: runningMean, variance: runningVariance, shape)
            input = nil   // an evaluation pass has no backward
        }
        return y
    }

    /// Replaces this rank's batch mean and (biased) variance by those of every rank's rows, from the all-reduced
    /// count, sum and sum of squares per channel (in Double); returns the total row count.
    private func synchroniseStatistics(rows: Int, _ group: ProcessGroup) throws -> Int {
        let mean = try backend.download(batchMean), variance = try backend.download(batchVariance), n = Double(rows)
        let c = features
        var sums = [Double](repeating: 0, count: 2 * c + 1)
        for j in 0..<c {
            let m = Double(mean[j])
            sums[j] = n * m
            sums[c + j] = n * (Double(variance[j]) + m * m)
        }
        sums[2 * c] = n
        try group.allReduceSum(&sums)
        let total = sums[2 * c]
        var globalMean = [Float](repeating: 0, count: c), globalVariance = [Float](repeating: 0, count: c)
        for j in 0..<c {
            let m = sums[j] / total
            globalMean[j] = Float(m)
            globalVariance[j] = Float(max(sums[c + j] / total - m * m, 0))
        }
        try backend.write(globalMean, to: batchMean)
        try backend.write(globalVariance, to: batchVariance)
        return Int(total)
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
        if let group = synchronised { try correctForAllRanks(input, dx, dGamma: dGamma, dBeta: dBeta, rows: rows, group) }
        // This rank's Σ ∂y·x̂ and Σ ∂y: the loop sums the parameters' gradients over the ranks.
        try backend.axpy(1, dGamma, gamma.gradient)
        try backend.axpy(1, dBeta, beta.gradient)
        return dx
    }

    /// The kernel's ∂x uses this rank's means of ∂y and ∂y·x̂, γ·σ⁻¹·(∂y − S_b/n − x̂·S_g/n); the whole batch's is
    /// γ·σ⁻¹·(∂y − G_b/N − x̂·G_g/N). Adds the difference, a + x̂·b per channel with a = γσ⁻¹(S_b/n − G_b/N) and
    /// b = γσ⁻¹(S_g/n − G_g/N), written as x·(σ⁻¹b) + (a − μσ⁻¹b) and applied by an evaluation-mode BatchNorm with
    /// mean 0 and variance + ε = 1 exactly.
    private func correctForAllRanks(_ x: Tensor, _ dx: Tensor, dGamma: Tensor, dBeta: Tensor, rows: Int, _ group: ProcessGroup) throws {
        let c = features, n = Double(rows), total = Double(statisticsRows)
        let local = (try backend.download(dBeta) + backend.download(dGamma)).map(Double.init)
        var global = local
        try group.allReduceSum(&global)
        let gammas = try backend.download(gamma.value), means = try backend.download(batchMean)
        let variances = try backend.download(batchVariance)
        var scales = [Float](repeating: 0, count: c), shifts = [Float](repeating: 0, count: c)
        for j in 0..<c {
            let inverse = 1 / (Double(variances[j]) + Double(epsilon)).squareRoot(), g = Double(gammas[j])
            let a = g * inverse * (local[j] / n - global[j] / total), b = g * inverse * (local[c + j] / n - global[c + j] / total)
            (scales[j], shifts[j]) = (Float(inverse * b), Float(a - Double(means[j]) * inverse * b))
        }
        let unit = Float(1) / Float(1 << 20)
        let correction = try backend.makeTensor(x.shape)
        try backend.batchNorm(x, gamma: try backend.upload(scales, shape: [c]), beta: try backend.upload(shifts, shape: [c]),
                              into: correction, mean: try backend.upload([Float](repeating: 0, count: c), shape: [c]),
                              variance: try backend.upload([Float](repeating: 1 - unit, count: c), shape: [c]),
                              BatchNormShape(rows: rows, columns: c, epsilon: unit, training: false))
        try backend.axpy(1, correction, dx)
    }
}
