import COpenCL
import LDMEngine

/// transpose (OpenCL launcher of Kernels/transpose.cl).
extension OpenCLBackend {
    static let transposeTile = 16

    public func uncheckedTranspose(_ x: Tensor, into out: Tensor, _ s: TransposeShape) throws {
        _ = try requireInt32(s.count, "transpose")
        let args: [KernelArgument] = [.int(Int32(s.rows)), .int(Int32(s.columns)), .buffer(try mem(x, "transpose")),
                                      .buffer(try mem(out, "transpose"))]
        guard s.count > 0 else { return }
        let tile = Self.transposeTile
        let kernel = try kernel("transpose", "transpose", options: "-DTILE=\(tile)")
        try launch(kernel, "transpose", args,
                   global: [padded(s.columns, to: tile), padded(s.rows, to: tile), s.batch], local: [tile, tile, 1])
    }
}
