import Foundation
import LDMEngine

/// kalman_ldm_parameters (CPU twin of Kernels/kalman_ldm_parameters.cl): the packed Kalman-LDM parameters
/// θ = [A | b | a | s] unpacked into the filter's inputs, and the reverse pass's sums packed into θ̄.
extension CPUBackend {
    public func uncheckedKalmanLDMUnpack(_ theta: Tensor, n: Int, A: Tensor, Q: Tensor, offset: Tensor) throws {
        let op = "kalmanLDMUnpack"
        let p = try floats(theta, op), a = try floats(A, op), q = try floats(Q, op), c = try floats(offset, op)
        let s = p[n * n + 2 * n]
        for e in 0..<(n * n) {
            let (i, j) = (e / n, e % n)
            a[e] = p[e]
            q[e] = i == j ? Foundation.exp(s + p[n * n + n + i]) : 0
        }
        for i in 0..<n {
            var v = p[n * n + i]
            for k in 0..<n { v -= p[i * n + k] * p[n * n + k] }
            c[i] = v
        }
    }

    public func uncheckedKalmanLDMShiftLogNoise(_ theta: Tensor, n: Int, logNoise: Tensor?, into out: Tensor) throws {
        let op = "kalmanLDMShiftLogNoise"
        let s = try floats(theta, op)[n * n + 2 * n], o = try floats(out, op)
        if let logNoise {
            let l = try floats(logNoise, op)
            for e in 0..<out.count { o[e] = l[e] + s }
        } else {
            for e in 0..<out.count { o[e] = s }
        }
    }

    public func uncheckedKalmanLDMPackGradient(_ theta: Tensor, n: Int, sums: KalmanLDMReverseSums, batch: Int,
                                      into gradient: Tensor) throws {
        let op = "kalmanLDMPackGradient"
        let p = try floats(theta, op), v = try floats(sums.hBarSum, op), m = try floats(sums.meanGradA, op)
        let c = try floats(sums.covariances.gradA, op), q = try floats(sums.covariances.gradLogQ, op)
        let rho = try floats(sums.logRSum, op)[0], out = try floats(gradient, op)
        let (g, inverseB) = (sums.groups, 1 / Float(batch))
        for e in 0..<(n * n) {
            var total = m[e] - v[e / n] * p[n * n + e % n]
            for group in 0..<g { total += c[group * n * n + e] }
            out[e] = total * inverseB
        }
        var noiseTotal: Float = 0
        for i in 0..<n {
            var total = v[i]
            for j in 0..<n { total -= p[j * n + i] * v[j] }
            out[n * n + i] = total * inverseB
            var logQ: Float = 0
            for group in 0..<g { logQ += q[group * n + i] }
            out[n * n + n + i] = logQ * inverseB
            noiseTotal += logQ
        }
        out[n * n + 2 * n] = (noiseTotal + rho) * inverseB
    }
}
