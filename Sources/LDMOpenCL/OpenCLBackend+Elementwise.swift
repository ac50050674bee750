import COpenCL
import LDMEngine

/// elementwise (OpenCL launcher of Kernels/elementwise.cl): add, scale, axpy.
extension OpenCLBackend {
    static let elementwiseGroup = 256

    public func uncheckedAdd(_ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        let n = try requireInt32(out.count, "add")
        let args: [KernelArgument] = [.int(n), .buffer(try mem(a, "add")), .buffer(try mem(b, "add")),
                                      .buffer(try mem(out, "add"))]
        try elementwise("add", n, args)
    }

    public func uncheckedScale(_ x: Tensor, by alpha: Float, into out: Tensor) throws {
        let n = try requireInt32(out.count, "scale")
        try elementwise("scale", n, [.int(n), .float(alpha), .buffer(try mem(x, "scale")),
                                     .buffer(try mem(out, "scale"))])
    }

    public func uncheckedAxpy(_ alpha: Float, _ x: Tensor, _ y: Tensor) throws {
        let n = try requireInt32(y.count, "axpy")
        try elementwise("axpy", n, [.int(n), .float(alpha), .buffer(try mem(x, "axpy")), .buffer(try mem(y, "axpy"))])
    }

    private func elementwise(_ name: String, _ n: Int32, _ arguments: [KernelArgument]) throws {
        guard n > 0 else { return }
        let group = Self.elementwiseGroup
        try launch(try kernel("elementwise", name), name, arguments, global: [padded(Int(n), to: group)],
                   local: [group])
    }
}
