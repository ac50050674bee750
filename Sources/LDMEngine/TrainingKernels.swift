import Foundation

/// The pointwise non-linearities of activation.cl.
public enum Activation: String, Sendable, CaseIterable, Codable {
    /// max(x, 0); the derivative at 0 is taken as 0 (PyTorch's convention).
    case relu
    case tanh
    /// x·Φ(x) with the exact normal CDF (PyTorch's default `approximate='none'`).
    case gelu
    /// |x|; the derivative is sign(x), 0 at 0 (the noise network's positive weights are |W|).
    case absolute
    /// log(x + 1e-5): the floor the noise network adds to a predicted variance before the filter takes its log.
    case logShifted

    /// The OpenCL `-D` define and the CPU's switch value.
    public var code: Int32 {
        switch self {
        case .relu: return 0
        case .tanh: return 1
        case .gelu: return 2
        case .absolute: return 3
        case .logShifted: return 4
        }
    }
}

/// One optimiser step of optimizer.cl on a parameter tensor with its state tensors.
public enum OptimizerStep: Sendable, Equatable {
    /// Adam (Kingma & Ba) with bias correction at step `t` (1-based). `decoupled` makes the weight decay AdamW's
    /// (p ← p − lr·wd·p before the Adam step); otherwise it is added to the gradient (PyTorch's Adam).
    case adam(lr: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float, decoupled: Bool, t: Int)
    /// SGD with momentum μ (PyTorch's form: v ← μ·v + g + wd·p, p ← p − lr·v). LARS passes its trust-ratio-scaled
    /// learning rate here.
    case sgd(lr: Float, momentum: Float, weightDecay: Float)

    /// Checks the hyper-parameters are finite and in range.
    public func validate() throws {
        switch self {
        case let .adam(lr, beta1, beta2, epsilon, weightDecay, _, t):
            guard lr.isFinite, lr >= 0, (0..<1).contains(beta1), (0..<1).contains(beta2), epsilon > 0,
                  weightDecay.isFinite, weightDecay >= 0, t >= 1 else {
                throw LDMError.invalidArgument("adam: need lr ≥ 0, β in [0, 1), ε > 0, weight decay ≥ 0 and step ≥ 1")
            }
        case let .sgd(lr, momentum, weightDecay):
            guard lr.isFinite, lr >= 0, momentum.isFinite, momentum >= 0, weightDecay.isFinite, weightDecay >= 0 else {
                throw LDMError.invalidArgument("sgd: need lr, momentum and weight decay finite and ≥ 0")
            }
        }
    }
}
