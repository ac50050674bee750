import COpenCL
import LDMEngine

/// variance_features (OpenCL launcher of Kernels/variance_features.cl): the noise network's first stage.
extension OpenCLBackend {
    public func uncheckedVarianceFeatures(_ x: Tensor, _ w: Tensor, into y: Tensor, means: Tensor, _ s: RowsShape) throws {
        let op = "varianceFeatures \(s)"
        let (rows, f) = (try requireInt32(s.rows, op), try requireInt32(s.columns, op))
        _ = try requireInt32(s.count, op)
        let group = Self.elementwiseGroup
        try launch(try kernel("variance_features", "variance_features", options: ""), op,
                   [.int(rows), .int(f)] + (try [x, w, y, means].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.rows, to: group)], local: [group])
    }

    public func uncheckedVarianceFeaturesBackward(_ x: Tensor, _ w: Tensor, means: Tensor, _ dy: Tensor, gradientW: Tensor,
                                                  gradientX: Tensor?, _ s: RowsShape) throws {
        let op = "varianceFeaturesBackward \(s)"
        let (rows, f) = (try requireInt32(s.rows, op), try requireInt32(s.columns, op))
        _ = try requireInt32(s.count, op)
        let rowTerms = try makeTensor([s.rows])
        let group = Self.elementwiseGroup
        try launch(try kernel("variance_features", "variance_features_rows", options: ""), op,
                   [.int(rows), .int(f)] + (try [x, w, means, dy, rowTerms].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.rows, to: group)], local: [group])
        try launch(try kernel("variance_features", "variance_features_weights", options: ""), op,
                   [.int(rows), .int(f)] + (try [x, w, means, dy, rowTerms, gradientW].map { .buffer(try mem($0, op)) }),
                   global: [padded(s.columns, to: group)], local: [group])
        if let gradientX {
            try launch(try kernel("variance_features", "variance_features_inputs", options: ""), op,
                       [.int(rows), .int(f)] + (try [x, w, means, dy, rowTerms, gradientX].map { .buffer(try mem($0, op)) }),
                       global: [padded(s.rows, to: group)], local: [group])
        }
    }
}
