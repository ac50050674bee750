import LDMEngine

/// Row-wise L2 normalisation `y_i = x_i / max(‖x_i‖, 1e-12)` (PyTorch's `F.normalize`), the projection onto the
/// sphere of sphere-model representations; forward and backward are reduce.cl's normalize kernels.
public final class L2Normalize: Module {
    private let backend: any Backend
    private var output: Tensor?, norms: Tensor?

    public init(on backend: any Backend) {
        self.backend = backend
    }

    /// y [N, d] for x [N, d].
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.shape.rank == 2 else {
            throw LDMError.shapeMismatch(operation: "L2Normalize.forward", detail: "expected N × d rows, got \(x.shape)")
        }
        let shape = RowsShape(rows: x.shape.dims[0], columns: x.shape.dims[1])
        let y = try backend.makeTensor(x.shape), n = try backend.makeTensor([shape.rows])
        try backend.normalizeRows(x, into: y, norms: n, shape)
        (output, norms) = (y, n)
        return y
    }

    /// ∂/∂x = (dy − y·⟨y, dy⟩)/‖x‖ per row, through the last forward pass.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let output, let norms, dy.count == output.count else {
            throw LDMError.invalidArgument("L2Normalize.backward needs a forward pass of the same shape first")
        }
        let dx = try backend.makeTensor(output.shape)
        try backend.normalizeRowsBackward(output, norms, dy, into: dx, RowsShape(rows: output.shape.dims[0], columns: output.shape.dims[1]))
        return dx
    }
}

/// Row-wise softmax `y_i = softmax(x_i)`, the head that turns a clustering encoder's logits into class
/// probabilities; forward and backward are reduce.cl's softmax kernels.
public final class Softmax: Module {
    private let backend: any Backend
    private var output: Tensor?

    public init(on backend: any Backend) {
        self.backend = backend
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        guard x.shape.rank == 2 else {
            throw LDMError.shapeMismatch(operation: "Softmax.forward", detail: "expected N × K rows, got \(x.shape)")
        }
        let y = try backend.makeTensor(x.shape)
        try backend.softmaxRows(x, into: y, scale: 1, RowsShape(rows: x.shape.dims[0], columns: x.shape.dims[1]))
        output = y
        return y
    }

    /// ∂/∂x = y ⊙ (dy − ⟨y, dy⟩) per row.
    public func backward(_ dy: Tensor) throws -> Tensor {
        guard let output, dy.count == output.count else {
            throw LDMError.invalidArgument("Softmax.backward needs a forward pass of the same shape first")
        }
        let dx = try backend.makeTensor(output.shape)
        try backend.softmaxRowsBackward(output, dy, into: dx, scale: 1, RowsShape(rows: output.shape.dims[0], columns: output.shape.dims[1]))
        return dx
    }
}
