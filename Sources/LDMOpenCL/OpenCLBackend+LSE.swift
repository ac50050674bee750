import COpenCL
import LDMEngine

/// lse (OpenCL launcher of Kernels/lse.cl): the fused pairwise log-sum-exp and its row and column backward passes.
extension OpenCLBackend {
    static let lseTile = 16

    private func lseOptions(_ s: PairwiseLSEShape) -> String {
        let chunks = max(1, (s.dimension + Self.lseTile - 1) / Self.lseTile)
        return "-DTILE=\(Self.lseTile) -DLSE_KERNEL=\(s.kernel == .dot ? 0 : 1) -DLSE_DCHUNKS=\(chunks)"
    }

    private func lseArguments(_ s: PairwiseLSEShape) -> [KernelArgument] {
        [.int(Int32(s.rows)), .int(Int32(s.columns)), .int(Int32(s.dimension)), .float(s.scale),
         .int(s.excludeDiagonal ? 1 : 0)]
    }

    public func uncheckedPairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ s: PairwiseLSEShape) throws {
        _ = try requireInt32(max(x.count, y.count), "pairwiseLSE")
        let arguments = lseArguments(s) + [.buffer(try mem(x, "pairwiseLSE")), .buffer(try mem(y, "pairwiseLSE")),
                                           .buffer(try mem(lse, "pairwiseLSE"))]
        guard s.rows > 0 else { return }
        let tile = Self.lseTile
        try launch(try kernel("lse", "lse_forward", options: lseOptions(s)), "lse_forward", arguments,
                   global: [tile, padded(s.rows, to: tile)], local: [tile, tile])
    }

    public func uncheckedPairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                                    _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSEBackward"
        _ = try requireInt32(max(x.count, y.count), op)
        let inputs: [KernelArgument] = [.buffer(try mem(x, op)), .buffer(try mem(y, op)), .buffer(try mem(lse, op)),
                                        .buffer(try mem(g, op))]
        let tile = Self.lseTile
        let options = lseOptions(s)
        if s.rows > 0 {
            try launch(try kernel("lse", "lse_backward_rows", options: options), "lse_backward_rows",
                       lseArguments(s) + inputs + [.buffer(try mem(dx, op))],
                       global: [tile, padded(s.rows, to: tile)], local: [tile, tile])
        }
        if s.columns > 0 {
            try launch(try kernel("lse", "lse_backward_columns", options: options), "lse_backward_columns",
                       lseArguments(s) + inputs + [.buffer(try mem(dy, op))],
                       global: [tile, padded(s.columns, to: tile)], local: [tile, tile])
        }
    }

    /// The row and column passes of lse.cl into two buffers, summed.
    public func uncheckedPairwiseLSESelfBackward(_ z: Tensor, _ lse: Tensor, _ g: Tensor, dz: Tensor, _ s: PairwiseLSEShape) throws {
        let other = try makeTensor(dz.shape)
        try pairwiseLSEBackward(z, z, lse, g, dx: dz, dy: other, s)
        try axpy(1, other, dz)
    }
}
