import COpenCL
import Foundation
import LDMEngine

/// activation and optimizer (OpenCL launchers of Kernels/activation.cl and Kernels/optimizer.cl).
extension OpenCLBackend {
    public func uncheckedActivation(_ x: Tensor, into y: Tensor, _ kind: Activation) throws {
        let n = try requireInt32(x.count, "activation")
        try pointwise("activation", "activation", options: "-DACT=\(kind.code)", n,
                      [.int(n), .buffer(try mem(x, "activation")), .buffer(try mem(y, "activation"))])
    }

    public func uncheckedActivationBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ kind: Activation) throws {
        let op = "activationBackward"
        let n = try requireInt32(x.count, op)
        try pointwise("activation", "activation_backward", options: "-DACT=\(kind.code)", n,
                      [.int(n), .buffer(try mem(x, op)), .buffer(try mem(dy, op)), .buffer(try mem(dx, op))])
    }

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

    private func pointwise(_ family: String, _ name: String, options: String, _ n: Int32,
                           _ arguments: [KernelArgument]) throws {
        guard n > 0 else { return }
        let group = Self.elementwiseGroup
        try launch(try kernel(family, name, options: options), name, arguments, global: [padded(Int(n), to: group)],
                   local: [group])
    }
}
