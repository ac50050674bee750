/// The checked entry points of the image kernels (conv2d.cl, pool.cl, augment.cl, gather.cl) and the convolution
/// built from them and matmul. Layouts: ImageKernelShapes.swift.
extension Backend {
    // MARK: conv2d.cl

    /// The im2col matrix of `x [N, H, W, Cin]`: `columns [N·Ho·Wo, kernel·kernel·Cin]`, zeros where a patch
    /// overlaps the padding.
    public func im2col(_ x: Tensor, into columns: Tensor, _ shape: Conv2dShape) throws {
        try shape.validate("im2col")
        try KernelChecks.count("im2col \(shape)", "x", x, shape.inputCount)
        try KernelChecks.count("im2col \(shape)", "columns", columns, shape.columnCount)
        try uncheckedIm2col(x, into: columns, shape)
    }

    /// The adjoint of ``im2col(_:into:_:)``: `dx [N, H, W, Cin]` gets, for each input value, the sum of the column
    /// entries it was copied to (a gather per input value, so no two work-items write one address).
    public func col2im(_ columns: Tensor, into dx: Tensor, _ shape: Conv2dShape) throws {
        try shape.validate("col2im")
        try KernelChecks.count("col2im \(shape)", "columns", columns, shape.columnCount)
        try KernelChecks.count("col2im \(shape)", "dx", dx, shape.inputCount)
        try uncheckedCol2im(columns, into: dx, shape)
    }

    /// `y[r, c] += bias[c]` for a `rows × channels` matrix (an NHWC activation seen as `N·H·W × C`).
    public func addChannelBias(_ bias: Tensor, to y: Tensor, _ shape: RowsShape) throws {
        try KernelChecks.rowsAndVector("addChannelBias \(shape)", shape, matrix: ("y", y), vector: ("bias", bias))
        try uncheckedAddChannelBias(bias, to: y, shape)
    }

    /// `sums[c] = Σ_r x[r, c]`: the bias gradient of ``addChannelBias(_:to:_:)``.
    public func channelSums(_ x: Tensor, into sums: Tensor, _ shape: RowsShape) throws {
        try KernelChecks.rowsAndVector("channelSums \(shape)", shape, matrix: ("x", x), vector: ("sums", sums))
        try uncheckedChannelSums(x, into: sums, shape)
    }

    /// `y = conv(x, w) + b` (``Conv2dShape``): im2col into `columns`, then `y = columns · wᵀ` on the backend's
    /// matmul, then the bias. `columns` is kept for ``conv2dBackward(_:weight:columns:dWeight:dBias:dx:dColumns:_:)``;
    /// a pointwise convolution (1 × 1, stride 1, no padding) multiplies `x` itself and leaves `columns` untouched
    /// (it may be nil then).
    public func conv2d(_ x: Tensor, weight: Tensor, bias: Tensor?, into y: Tensor, columns: Tensor?, _ shape: Conv2dShape) throws {
        try shape.validate("conv2d")
        let op = "conv2d \(shape)"
        try KernelChecks.count(op, "x", x, shape.inputCount)
        try KernelChecks.count(op, "weight", weight, shape.weightCount)
        try KernelChecks.count(op, "y", y, shape.outputCount)
        if let bias { try KernelChecks.count(op, "bias", bias, shape.outputChannels) }
        let patches = try patchMatrix(x, columns, shape, op)
        if !shape.isPointwise { try uncheckedIm2col(x, into: patches, shape) }
        try matmul(patches, weight, into: y, MatmulShape(m: shape.positions, n: shape.outputChannels, k: shape.patch,
                                                         transposeB: true))
        if let bias { try uncheckedAddChannelBias(bias, to: y, RowsShape(rows: shape.positions, columns: shape.outputChannels)) }
    }

    /// The backward of ``conv2d(_:weight:bias:into:columns:_:)`` for `dy = ∂L/∂y`: writes (overwrites) `dWeight =
    /// dyᵀ · columns`, `dBias = Σ_rows dy`, and when `dx` is given `dx = col2im(dy · w)` through `dColumns` (scratch
    /// of the columns' size; not needed for a pointwise convolution). `columns` is the forward's (`x` for a
    /// pointwise one).
    public func conv2dBackward(_ dy: Tensor, weight: Tensor, columns: Tensor, dWeight: Tensor, dBias: Tensor?, dx: Tensor?,
                               dColumns: Tensor?, _ shape: Conv2dShape) throws {
        try shape.validate("conv2dBackward")
        let op = "conv2dBackward \(shape)"
        try KernelChecks.count(op, "dy", dy, shape.outputCount)
        try KernelChecks.count(op, "weight", weight, shape.weightCount)
        try KernelChecks.count(op, "dWeight", dWeight, shape.weightCount)
        try KernelChecks.count(op, "columns", columns, shape.columnCount)
        if let dBias { try KernelChecks.count(op, "dBias", dBias, shape.outputChannels) }
        let rows = RowsShape(rows: shape.positions, columns: shape.outputChannels)
        try matmul(dy, columns, into: dWeight, MatmulShape(m: shape.outputChannels, n: shape.patch, k: shape.positions,
                                                           transposeA: true))
        if let dBias { try uncheckedChannelSums(dy, into: dBias, rows) }
        guard let dx else { return }
        try KernelChecks.count(op, "dx", dx, shape.inputCount)
        let patchGradient = try patchMatrix(dx, dColumns, shape, op)
        try matmul(dy, weight, into: patchGradient, MatmulShape(m: shape.positions, n: shape.patch, k: shape.outputChannels))
        if !shape.isPointwise { try uncheckedCol2im(patchGradient, into: dx, shape) }
    }

    /// The im2col matrix a convolution multiplies: `x` itself for a pointwise convolution, else `columns`.
    private func patchMatrix(_ x: Tensor, _ columns: Tensor?, _ shape: Conv2dShape, _ op: String) throws -> Tensor {
        if shape.isPointwise { return x }
        guard let columns else { throw LDMError.invalidArgument("\(op): needs a columns tensor of \(shape.columnCount) elements") }
        try KernelChecks.count(op, "columns", columns, shape.columnCount)
        return columns
    }

    // MARK: pool.cl

    /// Max or average pooling (``PoolShape``) of `x [N, H, W, C]` into `y [N, Ho, Wo, C]`.
    public func pool(_ x: Tensor, into y: Tensor, _ shape: PoolShape) throws {
        try shape.validate("pool")
        try KernelChecks.count("pool \(shape)", "x", x, shape.inputCount)
        try KernelChecks.count("pool \(shape)", "y", y, shape.outputCount)
        try uncheckedPool(x, into: y, shape)
    }

    /// The backward of ``pool(_:into:_:)``: `dx` for `dy` (max: to the first maximal entry of each window, found
    /// again from `x`; average: `dy / window²` to every input of the window).
    public func poolBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ shape: PoolShape) throws {
        try shape.validate("poolBackward")
        try KernelChecks.count("poolBackward \(shape)", "x", x, shape.inputCount)
        try KernelChecks.count("poolBackward \(shape)", "dy", dy, shape.outputCount)
        try KernelChecks.count("poolBackward \(shape)", "dx", dx, shape.inputCount)
        try uncheckedPoolBackward(x, dy, into: dx, shape)
    }

    /// `y[n, c] = mean_p x[n, p, c]` (global average pooling of an NHWC activation, `positions = H·W`).
    public func globalAveragePool(_ x: Tensor, into y: Tensor, _ shape: GlobalPoolShape) throws {
        try shape.validate("globalAveragePool")
        try KernelChecks.count("globalAveragePool \(shape)", "x", x, shape.inputCount)
        try KernelChecks.count("globalAveragePool \(shape)", "y", y, shape.outputCount)
        try uncheckedGlobalAveragePool(x, into: y, shape)
    }

    /// `dx[n, p, c] = dy[n, c] / positions`.
    public func globalAveragePoolBackward(_ dy: Tensor, into dx: Tensor, _ shape: GlobalPoolShape) throws {
        try shape.validate("globalAveragePoolBackward")
        try KernelChecks.count("globalAveragePoolBackward \(shape)", "dy", dy, shape.outputCount)
        try KernelChecks.count("globalAveragePoolBackward \(shape)", "dx", dx, shape.inputCount)
        try uncheckedGlobalAveragePoolBackward(dy, into: dx, shape)
    }

    // MARK: augment.cl

    /// Two augmented views of each image (``AugmentShape``): `parameters [2B, 8]` receives each view's crop, flip,
    /// jitter factors and source mean, `views [2B, Ho, Wo, C]` the views.
    public func augment(_ images: Tensor, parameters: Tensor, into views: Tensor, _ shape: AugmentShape) throws {
        try shape.validate("augment")
        try KernelChecks.count("augment \(shape)", "images", images, shape.inputCount)
        try KernelChecks.count("augment \(shape)", "parameters", parameters, shape.views * AugmentShape.parameterCount)
        try KernelChecks.count("augment \(shape)", "views", views, shape.outputCount)
        try uncheckedAugmentParameters(images, into: parameters, shape)
        try uncheckedAugmentApply(images, parameters, into: views, shape)
    }

    // MARK: gather.cl

    /// `out[i, :] = table[indices[offset + i], :]` (``GatherShape``; out-of-range indices give NaN rows).
    public func gatherRows(_ table: Tensor, indices: Tensor, into out: Tensor, _ shape: GatherShape) throws {
        try shape.validate("gatherRows")
        let op = "gatherRows \(shape)"
        try KernelChecks.count(op, "table", table, shape.rows * shape.columns)
        try KernelChecks.count(op, "out", out, shape.count * shape.columns)
        guard indices.count >= shape.offset + shape.count else {
            throw LDMError.shapeMismatch(operation: op, detail: "indices holds \(indices.count) values, needs \(shape.offset + shape.count)")
        }
        guard shape.count > 0 else { return }
        try uncheckedGatherRows(table, indices, into: out, shape)
    }
}
