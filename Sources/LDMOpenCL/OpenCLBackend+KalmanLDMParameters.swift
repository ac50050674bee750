import COpenCL
import LDMEngine

/// kalman_ldm_parameters (OpenCL launcher of Kernels/kalman_ldm_parameters.cl): the packed Kalman-LDM parameters
/// unpacked on the device, and the reverse pass's sums packed into the gradient there.
extension OpenCLBackend {
    public func uncheckedKalmanLDMUnpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws {
        let op = "kalmanLDMUnpack"
        let group = Self.elementwiseGroup
        try launch(try kernel("kalman_ldm_parameters", "kalman_ldm_unpack", options: ""), op,
                   [.int(try requireInt32(n, op))] + (try [theta, A, Q, offset].map { .buffer(try mem($0, op)) }),
                   global: [padded(n * n, to: group)], local: [group])
    }

    public func uncheckedKalmanLDMShiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, into out: Tensor) throws {
        let op = "kalmanLDMShiftLogNoise"
        guard out.count > 0 else { return }
        let group = Self.elementwiseGroup
        // Without ℓ the kernel never reads its buffer; θ stands in for it.
        try launch(try kernel("kalman_ldm_parameters", "kalman_ldm_shift_log_noise", options: ""), op,
                   [.int(try requireInt32(out.count, op)), .int(try requireInt32(n, op)), .int(logNoise == nil ? 0 : 1)]
                   + (try [theta, logNoise ?? theta, out].map { .buffer(try mem($0, op)) }),
                   global: [padded(out.count, to: group)], local: [group])
    }

    public func uncheckedKalmanLDMPackGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int,
                                      into gradient: Tensor) throws {
        let op = "kalmanLDMPackGradient"
        let group = Self.elementwiseGroup
        let buffers = [theta, sums.hBarSum, sums.meanGradA, sums.covariances.gradA, sums.covariances.gradLogQ,
                       sums.logRSum, gradient]
        try launch(try kernel("kalman_ldm_parameters", "kalman_ldm_pack_gradient", options: ""), op,
                   [.int(try requireInt32(n, op)), .int(try requireInt32(sums.groups, op)), .float(1 / Float(batch))]
                   + (try buffers.map { .buffer(try mem($0, op)) }),
                   global: [padded(theta.count, to: group)], local: [group])
    }
}
