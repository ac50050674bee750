import Foundation
import LDMEngine

/// affine_scan (OpenCL launcher of Kernels/affine_scan.cl): the two-level scan of ``AffineScanShape`` in three
/// launches (chunks from zero with their products, the carries, the fix-up), or the first alone for one chunk.
extension OpenCLBackend {
    public func uncheckedAffineScan(_ u: Tensor, transitions: Tensor, initial: Tensor?, into x: Tensor, _ s: AffineScanShape) throws {
        let op = "affineScan \(s)"
        let (steps, b, n, groups) = (s.steps, s.batch, s.n, s.groups)
        let (length, count) = s.chunking(s.chunks > 0 ? s.chunks : automaticScanChunks(s))
        _ = try requireInt32(steps * b * n, op)
        _ = try requireInt32(count * (b + groups * n), op)
        _ = try requireInt32(steps * groups * n * n, op)
        let products = try makeTensor(count > 1 ? [steps, groups, n, n] : [1])
        let carries = try makeTensor([count, b, n])
        let group = Self.elementwiseGroup
        let ints = { (values: [Int]) in values.map { KernelArgument.int(Int32($0)) } }
        let geometry = ints([steps, b, n, length])
        try launch(try kernel("affine_scan", "affine_scan_local"), op,
                   geometry + ints([count, s.reverse ? 1 : 0, s.transposed ? 1 : 0, initial == nil ? 0 : 1, groups])
                   + [.buffer(try mem(u, op)), .buffer(try mem(transitions, op)), .buffer(try mem(initial ?? u, op)),
                      .buffer(try mem(x, op)), .buffer(try mem(products, op))],
                   global: [padded(count * (b + groups * n), to: group)], local: [group])
        guard count > 1 else { return }
        try launch(try kernel("affine_scan", "affine_scan_carry"), op,
                   geometry + ints([count, s.reverse ? 1 : 0, groups])
                   + [.buffer(try mem(x, op)), .buffer(try mem(products, op)), .buffer(try mem(carries, op))],
                   global: [padded(b, to: group)], local: [group])
        try launch(try kernel("affine_scan", "affine_scan_fixup"), op,
                   geometry + ints([s.reverse ? 1 : 0, groups])
                   + [.buffer(try mem(products, op)), .buffer(try mem(carries, op)), .buffer(try mem(x, op))],
                   global: [padded((steps - length) * b * n, to: group)], local: [group])
    }

    /// Enough chunks to give the device several work-items per compute unit (a GPU wants many), and no more than
    /// √T, where the chunks' length and the carry's sequential length balance. A CPU device with a row per core
    /// already busy keeps one chunk: splitting time only adds arithmetic there.
    func automaticScanChunks(_ s: AffineScanShape) -> Int {
        let wanted = (device.type == "GPU" ? 64 : 2) * max(1, device.computeUnits)
        let chunks = (wanted + s.batch - 1) / s.batch
        return max(1, min(chunks, Int(Double(s.steps).squareRoot())))
    }
}
