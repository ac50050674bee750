import Foundation
import LDMEngine
import LDMObjectives
import LDMReference

/// The Kalman-LDM predictor of SPEC §5: an encoder f (frames → pseudo-observations z_t) and a linear-Gaussian
/// filter with learned A, b, a, s, trained on the Kalman-LDM loss. The filter parameters live in one packed
/// device tensor θ = [A (n²), b (n), a (n), s]: the loss reads θ and writes θ̄ on the device
/// (kalman_ldm_parameters.cl) and the optimiser updates it there with everything else (at its group's rate
/// multiplier). The host reads θ once per step for the spectral-radius control, as the reference reads ρ(A).
public final class KalmanLDMModel {
    public let encoder: MLP
    public let stateDimension: Int, latentDimension: Int, inputDimension: Int
    public let filter: Parameter
    /// Predicts Σ_D per step from each frame when present (the inferred-noise experiment); otherwise Σ_D = e^s·I.
    public let noiseNetwork: ObservationNoiseNetwork?
    public private(set) var parameters: KalmanLDMParameters
    public let variant: KalmanLDMVariant
    /// ρ(A) is rescaled to this bound whenever an update exceeds it (SPEC §5).
    public static let spectralRadiusBound = 1.02
    private let backend: any Backend
    /// The loss's constant tensors, made once per batch shape rather than on every step.
    private var workspace: KalmanLDMWorkspace?

    public init(inputDimension: Int, hiddenWidth: Int, latentDimension dl: Int, stateDimension n: Int,
                variant: KalmanLDMVariant = .stopGradient, filterRateMultiplier: Float = 100,
                noiseNetworkRateMultiplier: Float? = nil, on backend: any Backend, seed: UInt64) throws {
        guard dl <= n else { throw LDMError.invalidArgument("KalmanLDMModel: d_l = \(dl) must not exceed d_s = \(n)") }
        var generator = SeededGenerator(seed: seed)
        encoder = try MLP(widths: [inputDimension, hiddenWidth, dl], activation: .relu, on: backend, generator: &generator)
        // A = I + 0.1·N(0, 1), rescaled to spectral radius 1/1.1.
        var a = (0..<(n * n)).map { Float(($0 / n == $0 % n ? 1 : 0) + 0.1 * generator.normal()) }
        let radius = try Self.spectralRadius(a)
        a = a.map { $0 * Float(1 / (1.1 * radius)) }
        // s starts at 1 (Σ_A = Σ_D = e·I), as in the reference code. Measured on circular-inferred with the
        // stop-gradient form: R² 0.82 from s = 1, 0.31 from s = 0 (the latents shrink).
        parameters = try KalmanLDMParameters(A: a, logScale: 1)
        filter = try Parameter(name: "kalman.filter", value: try backend.upload(parameters.packed, shape: [n * n + 2 * n + 1]),
                               on: backend, rateMultiplier: filterRateMultiplier)
        noiseNetwork = try noiseNetworkRateMultiplier.map {
            try ObservationNoiseNetwork(features: inputDimension, latentDimension: dl, rateMultiplier: $0, on: backend)
        }
        stateDimension = n
        latentDimension = dl
        self.inputDimension = inputDimension
        self.variant = variant
        self.backend = backend
    }

    public var trainableParameters: [Parameter] { encoder.parameters + [filter] + (noiseNetwork?.parameters ?? []) }

    public static func spectralRadius(_ a: [Float]) throws -> Double {
        try Metrics.eigenvalues(a).map { ($0.re * $0.re + $0.im * $0.im).squareRoot() }.max() ?? 0
    }

    /// Applies the spectral-radius control after an update: reads θ (n² + 2n + 1 floats), and when ρ(A) exceeds
    /// the bound writes A rescaled to it back. Keeps ``parameters`` (the host copy for summaries) current.
    public func synchronizeFilter() throws {
        var p = try KalmanLDMParameters(packed: try backend.download(filter.value), n: stateDimension)
        let radius = try Self.spectralRadius(p.A)
        if radius > Self.spectralRadiusBound {
            p.A = p.A.map { $0 * Float(Self.spectralRadiusBound / radius) }
            try backend.write(p.packed, to: filter.value)
        }
        parameters = p
    }

    /// Loss and gradients for frames [B, T, inputDimension]: fills every parameter's gradient; returns the loss.
    public func lossAndGradients(_ frames: Tensor) throws -> Double {
        let (b, t) = (frames.shape.dims[0], frames.shape.dims[1])
        let flat = try frames.reshaped([b * t, inputDimension])
        let z = try encoder.forward(flat)
        if workspace?.rows != b * t {
            workspace = try KalmanLDMWorkspace(n: stateDimension, dl: latentDimension, rows: b * t, on: backend)
        }
        let logNoise = try noiseNetwork.map { try $0.forward(flat).reshaped([b, t, latentDimension]) }
        // θ in, θ̄ straight into the filter parameter's gradient: nothing but the loss crosses to the host.
        let result = try backend.kalmanLDMLoss(try z.reshaped([b, t, latentDimension]), packed: filter.value,
                                               stateDimension: stateDimension, variant: variant,
                                               logObservationNoise: logNoise, workspace: workspace, gradient: filter.gradient)
        _ = try encoder.backward(try result.gradZ.reshaped([b * t, latentDimension]))
        if let noiseNetwork, let gradient = result.gradLogObservationNoise {
            try noiseNetwork.backward(try gradient.reshaped([b * t, latentDimension]))
        }
        return result.loss
    }

    /// The filtered states [B, T, d_s] of frames [B, T, inputDimension] (forward only).
    public func filteredStates(_ frames: Tensor) throws -> [Float] {
        let (b, t) = (frames.shape.dims[0], frames.shape.dims[1])
        let flat = try frames.reshaped([b * t, inputDimension])
        let z = try encoder.forward(flat)
        let logNoise = try noiseNetwork.map { try $0.forward(flat).reshaped([b, t, latentDimension]) }
        return try backend.download(try backend.kalmanLDMFilter(try z.reshaped([b, t, latentDimension]), packed: filter.value,
                                                                stateDimension: stateDimension,
                                                                logObservationNoise: logNoise).means.filteredMeans)
    }
}
