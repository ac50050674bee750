/// The learned parameters of the Kalman-LDM predictor (SPEC §5): transition A (n × n), offset b (n), log process
/// noise a (n, Σ_A = e^s·diag(e^a)) and the joint log-scale s (Σ_D = e^s·I). The observation map is D = [I 0].
public struct KalmanLDMParameters: Sendable, Equatable {
    public var A: [Float]
    public var b: [Float]
    public var logProcessNoise: [Float]
    public var logScale: Float

    public init(A: [Float], b: [Float]? = nil, logProcessNoise: [Float]? = nil, logScale: Float = 0) throws {
        let n = Int(Double(A.count).squareRoot().rounded())
        guard n >= 1, n * n == A.count else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "A must be n × n, got \(A.count) entries")
        }
        let offset = b ?? [Float](repeating: 0, count: n), noise = logProcessNoise ?? [Float](repeating: 0, count: n)
        guard offset.count == n, noise.count == n else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "b and a must have \(n) entries")
        }
        guard (A + offset + noise + [logScale]).allSatisfy({ $0.isFinite }) else {
            throw LDMError.invalidArgument("KalmanLDMParameters: A, b, a and s must be finite")
        }
        self.A = A
        self.b = offset
        self.logProcessNoise = noise
        self.logScale = logScale
    }

    public var stateDimension: Int { b.count }

    /// θ = [A (n², row-major) | b | a | s], the layout the device kernels and the training loop keep.
    public var packed: [Float] { A + b + logProcessNoise + [logScale] }

    /// The parameters of a packed θ of state dimension n.
    public init(packed theta: [Float], n: Int) throws {
        guard n >= 1, theta.count == n * n + 2 * n + 1 else {
            throw LDMError.shapeMismatch(operation: "KalmanLDMParameters", detail: "θ must hold n² + 2n + 1 values for n = \(n), found \(theta.count)")
        }
        try self.init(A: Array(theta[0..<(n * n)]), b: Array(theta[(n * n)..<(n * n + n)]),
                      logProcessNoise: Array(theta[(n * n + n)..<(n * n + 2 * n)]), logScale: theta[n * n + 2 * n])
    }
}

/// The Kalman-LDM loss computed from packed parameters on the device: the loss (the one scalar read back) and
/// the gradients, all on the backend (θ̄ in the tensor the caller passed).
public struct KalmanLDMDeviceResult {
    public var loss: Double
    /// [B, T, d_l] ∂loss/∂z.
    public var gradZ: Tensor
    /// [B, T, d_l] ∂loss/∂ℓ when a per-step log observation noise ℓ was given.
    public var gradLogObservationNoise: Tensor?
    /// The kNN variant's entropy estimate; nil otherwise.
    public var entropy: Double?
    public var filter: KalmanFilterResult
}

/// The Kalman-LDM loss (mean over sequences of Σ_t) and its gradients.
public struct KalmanLDMResult {
    public var loss: Double
    /// [B, T, d_l] on the backend: ∂loss/∂z (stop-gradient form: through the filter's updates only).
    public var gradZ: Tensor
    public var gradA: [Float]
    public var gradB: [Float]
    public var gradLogProcessNoise: [Float]
    public var gradLogScale: Float
    /// [B, T, d_l] ∂loss/∂ℓ when a per-step log observation noise ℓ was given.
    public var gradLogObservationNoise: Tensor?
    /// The kNN variant's entropy estimate d·mean log ρ₃ (the loss subtracts T times it); nil otherwise.
    public var entropy: Double?
    /// The filter run inside the loss: predicted and filtered means, covariances and S_t.
    public var filter: KalmanFilterResult
}
