import COpenCL
import Foundation
import LDMEngine

/// activation (OpenCL launcher of Kernels/activation.cl).
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
}
