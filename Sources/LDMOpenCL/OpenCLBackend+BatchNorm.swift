import COpenCL
import LDMEngine

/// batch_norm (OpenCL launcher of Kernels/batch_norm.cl): batch normalisation over the rows, forward and backward.
extension OpenCLBackend {
    public func uncheckedBatchNorm(_ x: Tensor, gamma: Tensor, beta: Tensor, into y: Tensor, mean: Tensor, variance: Tensor,
                          _ s: BatchNormShape) throws {
        let op = "batchNorm \(s)"
        let (rows, columns) = (try requireInt32(s.rows, op), try requireInt32(s.columns, op))
        _ = try requireInt32(s.count, op)
        let group = Self.elementwiseGroup
        if s.training {
            try launch(try kernel("batch_norm", "batch_norm_statistics", options: ""), op,
                       [.int(rows), .int(columns)] + (try [x, mean, variance].map { .buffer(try mem($0, op)) }),
                       global: [padded(s.columns, to: group)], local: [group])
        }
        try launch(try kernel("batch_norm", "batch_norm_apply", options: ""), op,
                   [.int(rows), .int(columns), .float(s.epsilon)]
                   + (try [x, gamma, beta, mean, variance, y].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.count, to: group)], local: [group])
    }

    public func uncheckedBatchNormBackward(_ x: Tensor, _ dy: Tensor, gamma: Tensor, mean: Tensor, variance: Tensor, dx: Tensor,
                                  dGamma: Tensor, dBeta: Tensor, _ s: BatchNormShape) throws {
        let op = "batchNormBackward \(s)"
        guard s.training else { throw LDMError.invalidArgument("\(op): the backward is defined for training mode only") }
        let (rows, columns) = (try requireInt32(s.rows, op), try requireInt32(s.columns, op))
        _ = try requireInt32(s.count, op)
        let group = Self.elementwiseGroup
        try launch(try kernel("batch_norm", "batch_norm_sums", options: ""), op,
                   [.int(rows), .int(columns), .float(s.epsilon)]
                   + (try [x, dy, mean, variance, dGamma, dBeta].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.columns, to: group)], local: [group])
        try launch(try kernel("batch_norm", "batch_norm_input_gradient", options: ""), op,
                   [.int(rows), .int(columns), .float(s.epsilon)]
                   + (try [x, dy, gamma, mean, variance, dGamma, dBeta, dx].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.count, to: group)], local: [group])
    }
}
