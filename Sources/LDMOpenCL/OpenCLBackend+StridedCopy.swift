import COpenCL
import LDMEngine

/// strided_copy (OpenCL launcher of Kernels/strided_copy.cl): one work-item per copied element.
extension OpenCLBackend {
    public func uncheckedStridedCopy(_ source: Tensor, into destination: Tensor, _ s: StridedCopyShape) throws {
        let op = "stridedCopy \(s)"
        guard s.count > 0 else { return }
        // Every flat index the kernel forms fits in 32 bits once the extents do (checked against the tensors).
        let values = [s.blocks, s.rows, s.width, s.source.offset, s.source.blockStride, s.source.rowStride,
                      s.destination.offset, s.destination.blockStride, s.destination.rowStride]
        let ints = try values.map { KernelArgument.int(try requireInt32($0, op)) }
        _ = try requireInt32(s.count, op)
        let group = Self.elementwiseGroup
        let kernel = try kernel("strided_copy", "strided_copy", options: "-DACCUMULATE=\(s.accumulate ? 1 : 0)")
        try launch(kernel, op, ints + [.buffer(try mem(source, op)), .buffer(try mem(destination, op))],
                   global: [padded(s.count, to: group)], local: [group])
    }
}
