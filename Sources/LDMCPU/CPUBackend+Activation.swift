import Foundation
import LDMEngine

/// activation (CPU twin of Kernels/activation.cl).
extension CPUBackend {
    public func uncheckedActivation(_ x: Tensor, into y: Tensor, _ kind: Activation) throws {
        let px = try floats(x, "activation"), py = try floats(y, "activation")
        Parallel.forChunks(x.count, threads: threads) { range in
            switch kind {
            case .relu: for i in range { py[i] = max(px[i], 0) }
            case .tanh: for i in range { py[i] = Foundation.tanh(px[i]) }
            case .gelu: for i in range { py[i] = 0.5 * px[i] * (1 + Foundation.erf(px[i] * 0.70710678118654752)) }
            case .absolute: for i in range { py[i] = abs(px[i]) }
            case .logShifted: for i in range { py[i] = Foundation.log(px[i] + 1e-5) }
            }
        }
    }

    public func uncheckedActivationBackward(_ x: Tensor, _ dy: Tensor, into dx: Tensor, _ kind: Activation) throws {
        let px = try floats(x, "activationBackward"), pdy = try floats(dy, "activationBackward")
        let pdx = try floats(dx, "activationBackward")
        Parallel.forChunks(x.count, threads: threads) { range in
            switch kind {
            case .relu:
                // Eight lanes at a time with a select: a per-element branch on the sign of x mispredicts half the
                // time on real activations.
                var i = range.lowerBound
                while i + 8 <= range.upperBound {
                    let v = UnsafeRawPointer(px + i).loadUnaligned(as: SIMD8<Float>.self)
                    let g = UnsafeRawPointer(pdy + i).loadUnaligned(as: SIMD8<Float>.self)
                    UnsafeMutableRawPointer(pdx + i).storeBytes(of: g.replacing(with: 0, where: .!(v .> 0)), as: SIMD8<Float>.self)
                    i += 8
                }
                while i < range.upperBound { pdx[i] = px[i] > 0 ? pdy[i] : 0; i += 1 }
            case .tanh: for i in range { let t = Foundation.tanh(px[i]); pdx[i] = (1 - t * t) * pdy[i] }
            case .gelu:
                for i in range {
                    let v = px[i]
                    let derivative = 0.5 * (1 + Foundation.erf(v * 0.70710678118654752))
                        + v * 0.39894228040143268 * Foundation.exp(-0.5 * v * v)
                    pdx[i] = derivative * pdy[i]
                }
            case .absolute: for i in range { pdx[i] = px[i] > 0 ? pdy[i] : (px[i] < 0 ? -pdy[i] : 0) }
            case .logShifted: for i in range { pdx[i] = pdy[i] / (px[i] + 1e-5) }
            }
        }
    }
}
