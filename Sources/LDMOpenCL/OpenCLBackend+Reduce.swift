import COpenCL
import LDMEngine

/// reduce (OpenCL launcher of Kernels/reduce.cl): row-wise max, sum, norm and their backward.
extension OpenCLBackend {
    /// Work-items per row (REDUCE_WG); a power of two.
    static let reduceGroup = 128

    private static func options(_ reduction: RowReduction) -> String {
        let op = switch reduction {
        case .max: 0
        case .sum: 1
        case .norm: 2
        }
        return "-DREDUCE_OP=\(op) -DREDUCE_WG=\(reduceGroup)"
    }

    public func uncheckedReduceRows(_ x: Tensor, into out: Tensor, _ reduction: RowReduction, _ s: RowsShape) throws {
        let op = "reduceRows(\(reduction))"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .buffer(try mem(x, op)), .buffer(try mem(out, op))]
        guard s.rows > 0 else { return }
        let kernel = try kernel("reduce", "reduce_rows", options: Self.options(reduction))
        try launch(kernel, op, args, global: [s.rows * Self.reduceGroup], local: [Self.reduceGroup])
    }

    public func uncheckedReduceRowsBackward(_ x: Tensor, _ y: Tensor, _ gy: Tensor, into gx: Tensor,
                                   _ reduction: RowReduction, _ s: RowsShape) throws {
        let op = "reduceRowsBackward(\(reduction))"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .buffer(try mem(x, op)), .buffer(try mem(y, op)),
                                      .buffer(try mem(gy, op)), .buffer(try mem(gx, op))]
        guard s.rows > 0 else { return }
        let kernel = try kernel("reduce", "reduce_rows_backward", options: Self.options(reduction))
        try launch(kernel, op, args, global: [s.rows * Self.reduceGroup], local: [Self.reduceGroup])
    }
}

/// Row normalisation (OpenCL launcher of normalize_rows in Kernels/reduce.cl).
extension OpenCLBackend {
    public func uncheckedNormalizeRows(_ x: Tensor, into out: Tensor, norms: Tensor, _ s: RowsShape) throws {
        let op = "normalizeRows \(s)"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .buffer(try mem(x, op)), .buffer(try mem(out, op)),
                                      .buffer(try mem(norms, op))]
        guard s.rows > 0 else { return }
        let kernel = try kernel("reduce", "normalize_rows", options: "-DREDUCE_WG=\(Self.reduceGroup)")
        try launch(kernel, op, args, global: [s.rows * Self.reduceGroup], local: [Self.reduceGroup])
    }

    public func uncheckedNormalizeRowsBackward(_ out: Tensor, _ norms: Tensor, _ g: Tensor, into dx: Tensor,
                                      _ s: RowsShape) throws {
        let op = "normalizeRowsBackward \(s)"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .buffer(try mem(out, op)), .buffer(try mem(norms, op)),
                                      .buffer(try mem(g, op)), .buffer(try mem(dx, op))]
        guard s.rows > 0 else { return }
        let kernel = try kernel("reduce", "normalize_rows_backward", options: "-DREDUCE_WG=\(Self.reduceGroup)")
        try launch(kernel, op, args, global: [s.rows * Self.reduceGroup], local: [Self.reduceGroup])
    }
}

/// Row softmax (OpenCL launcher of softmax_rows in Kernels/reduce.cl): one work-group per row, as wide as the
/// row rounded up to a power of two (at least 16, at most 128), so a clustering head's K ≤ 64 classes do not
/// leave most lanes idle; each width is its own program (`-DREDUCE_WG`).
extension OpenCLBackend {
    static func softmaxGroup(_ columns: Int) -> Int {
        var group = 16
        while group < min(columns, reduceGroup) { group *= 2 }
        return group
    }

    public func uncheckedSoftmaxRows(_ x: Tensor, into y: Tensor, scale: Float, _ s: RowsShape) throws {
        let op = "softmaxRows \(s)"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .float(scale), .buffer(try mem(x, op)), .buffer(try mem(y, op))]
        guard s.rows > 0 else { return }
        let group = Self.softmaxGroup(s.columns)
        let kernel = try kernel("reduce", "softmax_rows", options: "-DREDUCE_WG=\(group)")
        try launch(kernel, op, args, global: [s.rows * group], local: [group])
    }

    public func uncheckedSoftmaxRowsBackward(_ y: Tensor, _ dy: Tensor, into dx: Tensor, scale: Float, _ s: RowsShape) throws {
        let op = "softmaxRowsBackward \(s)"
        _ = try requireInt32(s.count, op)
        let args: [KernelArgument] = [.int(Int32(s.columns)), .float(scale), .buffer(try mem(y, op)), .buffer(try mem(dy, op)),
                                      .buffer(try mem(dx, op))]
        guard s.rows > 0 else { return }
        let group = Self.softmaxGroup(s.columns)
        let kernel = try kernel("reduce", "softmax_rows_backward", options: "-DREDUCE_WG=\(group)")
        try launch(kernel, op, args, global: [s.rows * group], local: [group])
    }
}
