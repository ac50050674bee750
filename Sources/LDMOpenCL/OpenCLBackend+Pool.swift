import COpenCL
import LDMEngine

/// pool (OpenCL launcher of Kernels/pool.cl): window pooling (MAX=1 max, MAX=0 average) and global average pooling.
extension OpenCLBackend {
    private func poolArguments(_ s: PoolShape, _ op: String) throws -> [KernelArgument] {
        try [s.batch, s.height, s.width, s.channels, s.window, s.stride, s.padding, s.outputHeight, s.outputWidth]
            .map { .int(try requireInt32($0, op)) }
    }

    private func poolOptions(_ s: PoolShape) -> String { "-DMAX=\(s.kind == .max ? 1 : 0)" }

    public func uncheckedPool(_ x: Tensor, into y: Tensor, _ s: PoolShape) throws {
        let op = "pool \(s)"
        try pointwise("pool", "pool_forward", options: poolOptions(s), try requireInt32(s.outputCount, op),
                      try poolArguments(s, op) + [.buffer(try mem(x, op)), .buffer(try mem(y, op))])
    }

    public func uncheckedPoolBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ s: PoolShape) throws {
        let op = "poolBackward \(s)"
        try pointwise("pool", "pool_backward", options: poolOptions(s), try requireInt32(s.inputCount, op),
                      try poolArguments(s, op) + [.buffer(try mem(x, op)), .buffer(try mem(dy, op)), .buffer(try mem(dx, op))])
    }

    public func uncheckedGlobalAveragePool(_ x: Tensor, into y: Tensor, _ s: GlobalPoolShape) throws {
        let op = "globalAveragePool \(s)"
        _ = try requireInt32(s.inputCount, op)
        try pointwise("pool", "global_average_pool", options: "", try requireInt32(s.outputCount, op),
                      try [s.batch, s.positions, s.channels].map { .int(try requireInt32($0, op)) }
                      + [.buffer(try mem(x, op)), .buffer(try mem(y, op))])
    }

    public func uncheckedGlobalAveragePoolBackward(_ dy: Tensor, into dx: Tensor, _ s: GlobalPoolShape) throws {
        let op = "globalAveragePoolBackward \(s)"
        try pointwise("pool", "global_average_pool_backward", options: "", try requireInt32(s.inputCount, op),
                      try [s.batch, s.positions, s.channels].map { .int(try requireInt32($0, op)) }
                      + [.buffer(try mem(dy, op)), .buffer(try mem(dx, op))])
    }
}
