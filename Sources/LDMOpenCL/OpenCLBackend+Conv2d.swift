import COpenCL
import LDMEngine

/// conv2d (OpenCL launcher of Kernels/conv2d.cl): im2col, col2im, the channel bias and its gradient.
extension OpenCLBackend {
    /// The shape's extents as kernel arguments: N, H, W, Cin, K, stride, padding, Ho, Wo.
    private func convArguments(_ s: Conv2dShape, _ op: String) throws -> [KernelArgument] {
        try [s.batch, s.height, s.width, s.inputChannels, s.kernel, s.stride, s.padding, s.outputHeight, s.outputWidth]
            .map { .int(try requireInt32($0, op)) }
    }

    public func uncheckedIm2col(_ x: Tensor, into columns: Tensor, _ s: Conv2dShape) throws {
        let op = "im2col \(s)"
        let n = try requireInt32(s.columnCount, op)
        try pointwise("conv2d", "conv2d_im2col", options: "", n,
                      try convArguments(s, op) + [.buffer(try mem(x, op)), .buffer(try mem(columns, op))])
    }

    public func uncheckedCol2im(_ columns: Tensor, into dx: Tensor, _ s: Conv2dShape) throws {
        let op = "col2im \(s)"
        let n = try requireInt32(s.inputCount, op)
        try pointwise("conv2d", "conv2d_col2im", options: "", n,
                      try convArguments(s, op) + [.buffer(try mem(columns, op)), .buffer(try mem(dx, op))])
    }

    public func uncheckedAddChannelBias(_ bias: Tensor, to y: Tensor, _ s: RowsShape) throws {
        let op = "addChannelBias \(s)"
        let n = try requireInt32(s.count, op)
        try pointwise("conv2d", "conv2d_add_bias", options: "", n,
                      [.int(try requireInt32(s.rows, op)), .int(try requireInt32(s.columns, op)),
                       .buffer(try mem(bias, op)), .buffer(try mem(y, op))])
    }

    public func uncheckedChannelSums(_ x: Tensor, into sums: Tensor, _ s: RowsShape) throws {
        let op = "channelSums \(s)"
        _ = try requireInt32(s.count, op)
        try pointwise("conv2d", "conv2d_channel_sums", options: "", try requireInt32(s.columns, op),
                      [.int(try requireInt32(s.rows, op)), .int(try requireInt32(s.columns, op)),
                       .buffer(try mem(x, op)), .buffer(try mem(sums, op))])
    }
}
