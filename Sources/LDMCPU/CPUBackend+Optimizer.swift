import Foundation
import LDMEngine

/// optimizer (CPU twin of Kernels/optimizer.cl).
extension CPUBackend {
    public func uncheckedOptimizerStep(_ parameter: Tensor, _ gradient: Tensor, first: Tensor, second: Tensor,
                              _ step: OptimizerStep) throws {
        let op = "optimizerStep"
        let p = try floats(parameter, op), g = try floats(gradient, op), m = try floats(first, op), v = try floats(second, op)
        switch step {
        case let .adam(lr, beta1, beta2, epsilon, weightDecay, decoupled, t):
            let c1 = 1 - Float(pow(Double(beta1), Double(t))), c2 = 1 - Float(pow(Double(beta2), Double(t)))
            Parallel.forChunks(parameter.count, threads: threads) { range in
                for i in range {
                    var value = p[i], gi = g[i]
                    if decoupled { value -= lr * weightDecay * value } else { gi += weightDecay * value }
                    let mi = beta1 * m[i] + (1 - beta1) * gi, vi = beta2 * v[i] + (1 - beta2) * gi * gi
                    m[i] = mi
                    v[i] = vi
                    p[i] = value - lr * (mi / c1) / ((vi / c2).squareRoot() + epsilon)
                }
            }
        case let .sgd(lr, momentum, weightDecay):
            Parallel.forChunks(parameter.count, threads: threads) { range in
                for i in range {
                    let vi = momentum * m[i] + g[i] + weightDecay * p[i]
                    m[i] = vi
                    p[i] -= lr * vi
                }
            }
        }
    }
}
