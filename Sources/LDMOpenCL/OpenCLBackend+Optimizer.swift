import COpenCL
import Foundation
import LDMEngine

/// optimizer (OpenCL launcher of Kernels/optimizer.cl).
extension OpenCLBackend {
    public func uncheckedOptimizerStep(_ parameter: Tensor, _ gradient: Tensor, first: Tensor, second: Tensor,
                              _ step: OptimizerStep) throws {
        let op = "optimizerStep"
        let n = try requireInt32(parameter.count, op)
        switch step {
        case let .adam(lr, beta1, beta2, epsilon, weightDecay, decoupled, t):
            let c1 = 1 - Float(pow(Double(beta1), Double(t))), c2 = 1 - Float(pow(Double(beta2), Double(t)))
            try pointwise("optimizer", "adam", options: "", n,
                          [.int(n), .float(lr), .float(beta1), .float(beta2), .float(epsilon), .float(weightDecay),
                           .int(decoupled ? 1 : 0), .float(c1), .float(c2)]
                          + (try [parameter, gradient, first, second].map { .buffer(try mem($0, op)) }))
        case let .sgd(lr, momentum, weightDecay):
            try pointwise("optimizer", "sgd", options: "", n,
                          [.int(n), .float(lr), .float(momentum), .float(weightDecay)]
                          + (try [parameter, gradient, first].map { .buffer(try mem($0, op)) }))
        }
    }
}
