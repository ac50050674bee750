import COpenCL
import LDMEngine

/// augment (OpenCL launcher of Kernels/augment.cl): the views' parameters (one work-item per view), then the views.
extension OpenCLBackend {
    /// A 64-bit value as the two 32-bit kernel arguments (low, high) the kernel reassembles.
    private func halves(_ value: UInt64) -> [KernelArgument] {
        [.int(Int32(bitPattern: UInt32(truncatingIfNeeded: value))), .int(Int32(bitPattern: UInt32(truncatingIfNeeded: value >> 32)))]
    }

    public func uncheckedAugmentParameters(_ images: Tensor, into parameters: Tensor, _ s: AugmentShape) throws {
        let op = "augment \(s)"
        let (logLow, logHigh) = s.logRatio
        let sizes: [KernelArgument] = try [s.batch, s.height, s.width, s.channels, s.imageOffset, s.totalBatch ?? s.batch]
            .map { .int(try requireInt32($0, op)) }
        let settings: [KernelArgument] = [.float(s.scale.lowerBound), .float(s.scale.upperBound), .float(logLow), .float(logHigh),
                                          .float(s.flipProbability), .float(s.brightness), .float(s.contrast)]
        try pointwise("augment", "augment_parameters", options: "", try requireInt32(s.views, op),
                      sizes + settings + halves(s.seed) + halves(s.counter)
                      + [.buffer(try mem(images, op)), .buffer(try mem(parameters, op))])
    }

    public func uncheckedAugmentApply(_ images: Tensor, _ parameters: Tensor, into views: Tensor, _ s: AugmentShape) throws {
        let op = "augment \(s)"
        let sizes: [KernelArgument] = try [s.batch, s.height, s.width, s.channels, s.outputHeight, s.outputWidth, s.imageOffset,
                                            s.totalBatch ?? s.batch].map { .int(try requireInt32($0, op)) }
        try pointwise("augment", "augment_apply", options: "", try requireInt32(s.outputCount, op),
                      sizes + [.float(s.noise), .float(s.mean), .float(s.standardDeviation)] + halves(s.seed) + halves(s.counter)
                      + [.buffer(try mem(images, op)), .buffer(try mem(parameters, op)), .buffer(try mem(views, op))])
    }
}
