import COpenCL
import LDMEngine

/// gather (OpenCL launcher of Kernels/gather.cl): rows of a table picked by a float32 index tensor.
extension OpenCLBackend {
    public func uncheckedGatherRows(_ table: Tensor, _ indices: Tensor, into out: Tensor, _ s: GatherShape) throws {
        let op = "gatherRows \(s)"
        try pointwise("gather", "gather_rows", options: "", try requireInt32(s.count * s.columns, op),
                      try [s.rows, s.columns, s.count, s.offset].map { .int(try requireInt32($0, op)) }
                      + [.buffer(try mem(table, op)), .buffer(try mem(indices, op)), .buffer(try mem(out, op))])
    }
}
