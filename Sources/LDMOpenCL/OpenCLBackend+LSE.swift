import COpenCL
import LDMEngine

/// lse (OpenCL launcher of Kernels/lse.cl): the fused pairwise log-sum-exp and its row and column backward passes,
/// in the kernels ``OpenCLBackend/lseKernels`` names: work-group tiles for GPUs, register blocks for CPU devices.
extension OpenCLBackend {
    static let lseTile = 16
    /// Rows per work-item of the register-blocked kernels, and their column block (two 16-lane vectors).
    static let lseBlockRows = 8
    static let lseBlockColumns = 32
    /// The widest d the register-blocked backward takes: it keeps LSE_BR gradient rows of d floats in private
    /// memory (32 KiB at this bound); wider rows fall back to the tiled kernels.
    static let lseBlockedMaximumDimension = 1024

    private func lseOptions(_ s: PairwiseLSEShape) -> String {
        let chunks = max(1, (s.dimension + Self.lseTile - 1) / Self.lseTile)
        let paddedDimension = max(Self.lseBlockColumns, padded(s.dimension, to: Self.lseBlockColumns))
        return "-DTILE=\(Self.lseTile) -DLSE_KERNEL=\(s.kernel == .dot ? 0 : 1) -DLSE_DCHUNKS=\(chunks)"
            + " -DLSE_BR=\(Self.lseBlockRows) -DLSE_DP=\(paddedDimension)"
    }

    private func lseArguments(_ s: PairwiseLSEShape) -> [KernelArgument] {
        [.int(Int32(s.rows)), .int(Int32(s.columns)), .int(Int32(s.dimension)), .float(s.scale),
         .int(s.excludeDiagonal ? 1 : 0)]
    }

    private func blocked(_ s: PairwiseLSEShape) -> Bool {
        lseKernels == .blocked && s.dimension <= Self.lseBlockedMaximumDimension
    }

    public func uncheckedPairwiseLSE(_ x: Tensor, _ y: Tensor, into lse: Tensor, _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSE"
        _ = try requireInt32(max(x.count, y.count), op)
        guard s.rows > 0 else { return }
        if blocked(s) {
            let other = try blockedOperand(y, count: s.columns, s, rows: false, op)
            try launch(try kernel("lse", "lse_forward_blocked", options: lseOptions(s)), "lse_forward_blocked",
                       lseArguments(s) + [.int(x.storage === y.storage ? 1 : 0), .int(Int32(other.padded)),
                                          .buffer(try mem(x, op)), .buffer(try mem(other.transposed, op)),
                                          .buffer(try mem(other.norms, op)), .buffer(try mem(lse, op))],
                       global: [padded(s.rows, to: Self.lseBlockRows) / Self.lseBlockRows], local: [1])
            return
        }
        let arguments = lseArguments(s) + [.buffer(try mem(x, op)), .buffer(try mem(y, op)), .buffer(try mem(lse, op))]
        let tile = Self.lseTile
        try launch(try kernel("lse", "lse_forward", options: lseOptions(s)), "lse_forward", arguments,
                   global: [tile, padded(s.rows, to: tile)], local: [tile, tile])
    }

    public func uncheckedPairwiseLSEBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                                    _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSEBackward"
        _ = try requireInt32(max(x.count, y.count), op)
        if blocked(s) {
            try blockedBackward(x, y, lse, g, dx: dx, dy: dy, s)
            return
        }
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

    /// The other operand as the register-blocked kernels read it: transposed and padded to whole column blocks
    /// (d × padded), its squared row norms (padded with zeros) and, for the backward, its rows padded to LSE_DP
    /// columns (the tensor itself when d is already a multiple of 32).
    private struct BlockedOperand {
        var transposed: Tensor
        var norms: Tensor
        var rows: Tensor
        var padded: Int
    }

    private func blockedOperand(_ p: Tensor, count: Int, _ s: PairwiseLSEShape, rows: Bool, _ op: String) throws -> BlockedOperand {
        let d = s.dimension, columns = max(Self.lseBlockColumns, padded(count, to: Self.lseBlockColumns))
        let paddedDimension = max(Self.lseBlockColumns, padded(d, to: Self.lseBlockColumns))
        let transposed = try makeTensor([max(1, d), columns]), norms = try makeTensor([columns])
        let copyRows = rows && paddedDimension != d
        let padded = copyRows ? try makeTensor([max(1, count), paddedDimension]) : p
        let options = lseOptions(s)
        if d > 0 {
            try launch(try kernel("lse", "lse_transpose_pad", options: options), "lse_transpose_pad",
                       [.int(Int32(count)), .int(Int32(d)), .int(Int32(columns)), .buffer(try mem(p, op)),
                        .buffer(try mem(transposed, op))], global: [columns, d], local: nil)
        }
        try launch(try kernel("lse", "lse_prepare_rows", options: options), "lse_prepare_rows",
                   [.int(Int32(count)), .int(Int32(d)), .int(Int32(columns)), .int(copyRows ? 1 : 0),
                    .buffer(try mem(p, op)), .buffer(try mem(norms, op)), .buffer(try mem(padded, op))],
                   global: [columns], local: nil)
        return BlockedOperand(transposed: transposed, norms: norms, rows: padded, padded: columns)
    }

    /// The row pass (own rows X against Y) and the column pass (own rows Y against X) of the blocked backward.
    private func blockedBackward(_ x: Tensor, _ y: Tensor, _ lse: Tensor, _ g: Tensor, dx: Tensor, dy: Tensor,
                                 _ s: PairwiseLSEShape) throws {
        let op = "pairwiseLSEBackward"
        let sameSet: KernelArgument = .int(x.storage === y.storage ? 1 : 0)
        let backward = try kernel("lse", "lse_backward_blocked", options: lseOptions(s))
        let common: [KernelArgument] = [.int(Int32(s.dimension)), .float(s.scale), .int(s.excludeDiagonal ? 1 : 0), sameSet]
        let passes: [(own: Tensor, ownCount: Int, other: Tensor, otherCount: Int, grad: Tensor, rowPass: Bool)] =
            [(x, s.rows, y, s.columns, dx, true), (y, s.columns, x, s.rows, dy, false)]
        // One set: both passes read the same other operand.
        var prepared: [ObjectIdentifier: BlockedOperand] = [:]
        for pass in passes where pass.ownCount > 0 {
            if pass.otherCount == 0 {
                try fill(pass.grad, with: 0)
                continue
            }
            let key = ObjectIdentifier(pass.other.storage)
            let other = try prepared[key] ?? blockedOperand(pass.other, count: pass.otherCount, s, rows: true, op)
            prepared[key] = other
            try launch(backward, "lse_backward_blocked",
                       [.int(Int32(pass.ownCount)), .int(Int32(pass.otherCount))] + common
                       + [.int(pass.rowPass ? 1 : 0), .int(Int32(other.padded)), .buffer(try mem(pass.own, op)),
                          .buffer(try mem(other.transposed, op)), .buffer(try mem(other.norms, op)),
                          .buffer(try mem(other.rows, op)), .buffer(try mem(lse, op)), .buffer(try mem(g, op)),
                          .buffer(try mem(pass.grad, op))],
                       global: [padded(pass.ownCount, to: Self.lseBlockRows) / Self.lseBlockRows], local: [1])
        }
    }
}
