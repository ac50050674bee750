import Foundation
import LDMEngine

/// A learning rate as a function of the step (0-based) out of `total`.
public enum LearningRateSchedule: Sendable, Equatable {
    case constant(Float)
    /// Linear from `from` at step 0 to `to` at the last step.
    case linear(from: Float, to: Float)
    /// `base`, multiplied by `factor` at each fraction of training in `milestones` (e.g. [1/3, 2/3]).
    case step(base: Float, milestones: [Double], factor: Float)
    /// Linear warm-up over `warmup` steps, then cosine decay to `floor`.
    case warmupCosine(base: Float, warmup: Int, floor: Float)

    /// The shapes `ldm train --schedule` names, each built from a base rate.
    public enum Kind: String, Sendable, CaseIterable {
        /// The base rate throughout.
        case constant
        /// Linear from the base to 1 % of it.
        case linear
        /// The base, halved at 1/3 and 2/3 of training (the reference's MultiStepLR).
        case step
        /// Linear warm-up, then cosine decay to 0.
        case cosine
    }

    /// A schedule of the given shape from `base` (`warmup` steps of warm-up for `.cosine`).
    public static func named(_ kind: Kind, base: Float, warmup: Int = 0) -> LearningRateSchedule {
        switch kind {
        case .constant: return .constant(base)
        case .linear: return .linear(from: base, to: base / 100)
        case .step: return .step(base: base, milestones: [1.0 / 3, 2.0 / 3], factor: 0.5)
        case .cosine: return .warmupCosine(base: base, warmup: warmup, floor: 0)
        }
    }

    /// The base rate (the first step's, or the peak after a warm-up).
    public var baseRate: Float {
        switch self {
        case .constant(let rate): return rate
        case let .linear(from, _): return from
        case let .step(base, _, _), let .warmupCosine(base, _, _): return base
        }
    }

    /// The same schedule with every rate multiplied by `factor`.
    public func scaled(by factor: Float) -> LearningRateSchedule {
        switch self {
        case .constant(let rate): return .constant(rate * factor)
        case let .linear(from, to): return .linear(from: from * factor, to: to * factor)
        case let .step(base, milestones, decay): return .step(base: base * factor, milestones: milestones, factor: decay)
        case let .warmupCosine(base, warmup, floor): return .warmupCosine(base: base * factor, warmup: warmup, floor: floor * factor)
        }
    }

    public func rate(at step: Int, of total: Int) -> Float {
        let progress = total > 1 ? Double(step) / Double(total - 1) : 0
        switch self {
        case .constant(let rate): return rate
        case let .linear(from, to): return from + Float(progress) * (to - from)
        case let .step(base, milestones, factor):
            let passed = milestones.filter { Double(step) >= $0 * Double(total) }.count
            return base * Float(pow(Double(factor), Double(passed)))
        case let .warmupCosine(base, warmup, floor):
            if step < warmup { return base * Float(step + 1) / Float(warmup) }
            let t = Double(step - warmup) / Double(max(1, total - warmup))
            return floor + (base - floor) * Float(0.5 * (1 + cos(Double.pi * t)))
        }
    }
}

/// A first-order optimiser over a list of parameters. Every update runs on the device (optimizer.cl and the
/// elementwise kernels); only scalars (gradient norms for clipping and LARS) come back to the host.
public protocol Optimizer: AnyObject {
    var parameters: [Parameter] { get }
    /// Steps taken so far.
    var steps: Int { get }
    /// Global gradient-norm clipping before each step (nil: none).
    var clipNorm: Float? { get set }
    /// One update at learning rate `rate` (each parameter's group multiplier is applied on top).
    func step(rate: Float) throws
    /// The state tensors by name, for checkpoints.
    var state: [(String, Tensor)] { get }
    /// Restores the step count after the state tensors were loaded.
    func restore(steps: Int)
}

/// The optimisers `ldm train --optimizer` offers.
public enum OptimizerKind: String, Sendable, CaseIterable, Codable {
    /// Adam with L2 weight decay added to the gradient (PyTorch's `Adam`).
    case adam
    /// Adam with decoupled weight decay (PyTorch's `AdamW`).
    case adamw
    /// SGD with momentum (0.9 unless the task says otherwise; PyTorch's form).
    case sgd
    /// LARS (You, Gitman & Ginsburg 2017): SGD with momentum whose step per weight matrix is scaled by the trust
    /// ratio η·‖w‖/(‖g‖ + wd·‖w‖); biases and other 1-D parameters are left unscaled and undecayed.
    case lars

    /// The optimiser over `parameters` with weight decay `weightDecay` (and `momentum` for SGD and LARS).
    public func make(_ parameters: [Parameter], weightDecay: Float, momentum: Float = 0.9, on backend: any Backend) throws -> any Optimizer {
        switch self {
        case .adam: return try AdamOptimizer(parameters, weightDecay: weightDecay, on: backend)
        case .adamw: return try AdamOptimizer(parameters, weightDecay: weightDecay, decoupled: true, on: backend)
        case .sgd: return try SGDOptimizer(parameters, momentum: momentum, weightDecay: weightDecay, on: backend)
        case .lars: return try LARSOptimizer(parameters, momentum: momentum, weightDecay: weightDecay, on: backend)
        }
    }
}

/// What every optimiser keeps: its parameters, a zero-initialised state tensor per parameter and per slot (Adam's
/// m and v, SGD's velocity), the step count and the clipping of the global gradient norm.
public class StatefulOptimizer {
    public let parameters: [Parameter]
    public let weightDecay: Float
    public var clipNorm: Float?
    public internal(set) var steps = 0
    /// slots[k][i]: the state of kind k (named `prefixes[k]` in checkpoints) of parameter i.
    let slots: [[Tensor]]
    let prefixes: [String]
    let backend: any Backend

    init(_ parameters: [Parameter], weightDecay: Float, slots prefixes: [String], on backend: any Backend) throws {
        (self.parameters, self.weightDecay, self.prefixes, self.backend) = (parameters, weightDecay, prefixes, backend)
        slots = try prefixes.map { _ in
            try parameters.map { p in let t = try backend.makeTensor(p.value.shape); try backend.fill(t, with: 0); return t }
        }
    }

    public var state: [(String, Tensor)] {
        zip(prefixes, slots).flatMap { prefix, tensors in zip(parameters, tensors).map { (prefix + $0.name, $1) } }
    }

    public func restore(steps: Int) { self.steps = steps }

    /// Scales every gradient by clipNorm/‖g‖ when the global norm ‖g‖ over all parameters exceeds `clipNorm`.
    func clipGradients() throws {
        guard let clipNorm else { return }
        let total = try parameters.reduce(0.0) { sum, p in let n = try norm(p.gradient); return sum + n * n }.squareRoot()
        if total > Double(clipNorm) {
            for p in parameters { try backend.scale(p.gradient, by: Float(Double(clipNorm) / total), into: p.gradient) }
        }
    }

    /// ‖x‖ of a whole tensor (reduce.cl), one scalar back to the host.
    func norm(_ x: Tensor) throws -> Double {
        let out = try backend.makeTensor([1])
        try backend.reduceRows(x, into: out, .norm, RowsShape(rows: 1, columns: x.count))
        return Double(try backend.download(out)[0])
    }
}

/// Adam (or AdamW) over a list of parameters, the update on the device (optimizer.cl); each parameter's rate is
/// the schedule's times its group multiplier.
public final class AdamOptimizer: StatefulOptimizer, Optimizer {
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    public let decoupled: Bool

    public init(_ parameters: [Parameter], weightDecay: Float = 0, decoupled: Bool = false, on backend: any Backend) throws {
        self.decoupled = decoupled
        try super.init(parameters, weightDecay: weightDecay, slots: ["adam.m.", "adam.v."], on: backend)
    }

    /// One update at learning rate `rate` (before group multipliers); Adam's t is the step count after it.
    public func step(rate: Float) throws {
        try clipGradients()
        steps += 1
        for (index, p) in parameters.enumerated() {
            try backend.optimizerStep(p.value, p.gradient, first: slots[0][index], second: slots[1][index],
                                      .adam(lr: rate * p.rateMultiplier, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                            weightDecay: weightDecay, decoupled: decoupled, t: steps))
        }
    }
}

/// SGD with momentum (PyTorch's form: v ← μ·v + g + wd·p, p ← p − lr·v), the update on the device (optimizer.cl).
public class SGDOptimizer: StatefulOptimizer, Optimizer {
    public let momentum: Float

    public init(_ parameters: [Parameter], momentum: Float = 0.9, weightDecay: Float = 0, on backend: any Backend) throws {
        self.momentum = momentum
        try super.init(parameters, weightDecay: weightDecay, slots: [Self.statePrefix], on: backend)
    }

    /// The state tensors' name prefix in checkpoints.
    class var statePrefix: String { "sgd.v." }

    public func step(rate: Float) throws {
        try clipGradients()
        steps += 1
        for (index, p) in parameters.enumerated() {
            let decay = try prepare(p), velocity = slots[0][index]
            try backend.optimizerStep(p.value, p.gradient, first: velocity, second: velocity,
                                      .sgd(lr: rate * p.rateMultiplier, momentum: momentum, weightDecay: decay))
        }
    }

    /// Adjusts a parameter's gradient before its momentum step and returns the weight decay the kernel applies
    /// (plain SGD: the gradient as it is, with the optimiser's decay).
    func prepare(_ p: Parameter) throws -> Float { weightDecay }
}

/// LARS: for each parameter of rank ≥ 2, g ← η·‖w‖/(‖g‖ + wd·‖w‖)·(g + wd·w) (the trust ratio, 1 when either
/// norm is 0), then SGD with momentum; 1-D parameters (biases, normalisation scales) take plain momentum SGD
/// without decay, the usual exclusion in SimCLR/BYOL training. Two norms per matrix come back to the host.
public final class LARSOptimizer: SGDOptimizer {
    /// η, the trust coefficient (1e-3 in the LARS paper and in lightly/solo-learn).
    public var trustCoefficient: Float = 1e-3
    override class var statePrefix: String { "lars.v." }

    /// The trust ratio η·‖w‖/(‖g‖ + wd·‖w‖), or 1 when a norm is zero.
    public static func trustRatio(weightNorm: Double, gradientNorm: Double, weightDecay: Float, coefficient: Float) -> Float {
        guard weightNorm > 0, gradientNorm > 0 else { return 1 }
        return Float(Double(coefficient) * weightNorm / (gradientNorm + Double(weightDecay) * weightNorm))
    }

    override func prepare(_ p: Parameter) throws -> Float {
        guard p.value.shape.rank >= 2 else { return 0 }
        let ratio = Self.trustRatio(weightNorm: try norm(p.value), gradientNorm: try norm(p.gradient),
                                    weightDecay: weightDecay, coefficient: trustCoefficient)
        if weightDecay > 0 { try backend.axpy(weightDecay, p.value, p.gradient) }
        try backend.scale(p.gradient, by: ratio, into: p.gradient)
        return 0
    }
}
