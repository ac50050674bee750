import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import Testing

/// kalman_ldm_parameters.cl on every backend against the Double reference.
@Suite("kalman_ldm_parameters.cl")
struct KalmanLDMParametersTests {
    /// kalman_ldm_parameters.cl on every backend against the Double reference: unpack (A, Q = e^s·diag(e^a),
    /// b − A·b), ℓ + s with and without ℓ, and the packed gradient from per-group sums; wrong sizes refused. (Its
    /// derivatives are the loss's: every gradient test above goes through these kernels.)
    @Test(arguments: TestBackends.all)
    func packedParameterKernelsMatchTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 46)
        let (n, groups, batch) = (5, 3, 6)
        let hostTheta = generator.floats(n * n + 2 * n + 1).map { 0.5 * $0 }, theta64 = hostTheta.map(Double.init)
        let theta = try backend.upload(hostTheta, shape: [n * n + 2 * n + 1])
        let a = try backend.makeTensor([n, n]), q = try backend.makeTensor([n, n]), offset = try backend.makeTensor([n])
        try backend.kalmanLDMUnpack(theta, n: n, A: a, Q: q, offset: offset)
        let unpacked = Reference.kalmanLDMUnpack(theta64, n: n)
        expectClose(try backend.download(a), unpacked.A, tolerance: Tolerance.float32, "A on \(name)")
        expectClose(try backend.download(q), unpacked.Q, tolerance: Tolerance.float32, "Q on \(name)")
        expectClose(try backend.download(offset), unpacked.offset, tolerance: Tolerance.float32, "b − A·b on \(name)")

        let hostNoise = generator.floats(2 * 7 * 3), noise = try backend.upload(hostNoise, shape: [2, 7, 3])
        let shifted = try backend.makeTensor([2, 7, 3])
        try backend.kalmanLDMShiftLogNoise(theta, n: n, logNoise: noise, into: shifted)
        let s = Double(hostTheta[n * n + 2 * n])
        expectClose(try backend.download(shifted), hostNoise.map { Double($0) + s }, tolerance: Tolerance.float32, "ℓ + s on \(name)")
        let alone = try backend.makeTensor([1, 1, 3])
        try backend.kalmanLDMShiftLogNoise(theta, n: n, logNoise: nil, into: alone)
        expectClose(try backend.download(alone), [s, s, s], tolerance: Tolerance.float32, "s alone on \(name)")

        let covariances = try KalmanLDMCovarianceGradients(groups: groups, steps: 4, n: n, m: 3, on: backend)
        let (hostC, hostQ) = (generator.floats(groups * n * n), generator.floats(groups * n))
        let (hostV, hostM) = (generator.floats(n), generator.floats(n * n))
        try backend.write(hostC, to: covariances.gradA)
        try backend.write(hostQ, to: covariances.gradLogQ)
        let sums = KalmanLDMReverseSums(hBarSum: try backend.upload(hostV, shape: [n]), meanGradA: try backend.upload(hostM, shape: [n, n]),
                                        covariances: covariances, groups: groups, logRSum: try backend.upload([1.25], shape: [1]))
        let gradient = try backend.makeTensor(theta.shape)
        try backend.kalmanLDMPackGradient(theta, n: n, sums: sums, batch: batch, into: gradient)
        let expected = Reference.kalmanLDMPackGradient(theta64, n: n, v: hostV.map(Double.init), M: hostM.map(Double.init),
                                                       C: hostC.map(Double.init), q: hostQ.map(Double.init), rho: 1.25,
                                                       groups: groups, batch: batch)
        expectClose(try backend.download(gradient), expected, tolerance: Tolerance.float32, "θ̄ on \(name)")

        #expect(throws: LDMError.self) { try backend.kalmanLDMUnpack(try backend.makeTensor([n * n]), n: n, A: a, Q: q, offset: offset) }
        #expect(throws: LDMError.self) { try backend.kalmanLDMShiftLogNoise(theta, n: n, logNoise: noise, into: alone) }
        #expect(throws: LDMError.self) { try backend.kalmanLDMPackGradient(theta, n: n, sums: sums, batch: 0, into: gradient) }
    }
}
