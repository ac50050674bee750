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

/// Adam (or AdamW) over a list of parameters, the update on the device (optimizer.cl); each parameter's rate is
/// the schedule's times its group multiplier. Optional clipping of the global gradient norm.
public final class AdamOptimizer {
    public let parameters: [Parameter]
    public var beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8
    public let weightDecay: Float
    public let decoupled: Bool
    public var clipNorm: Float?
    /// Steps taken (Adam's t is this + 1 during a step).
    public private(set) var steps = 0
    let first: [Tensor], second: [Tensor]
    private let backend: any Backend

    public init(_ parameters: [Parameter], weightDecay: Float = 0, decoupled: Bool = false, on backend: any Backend) throws {
        self.parameters = parameters
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        self.backend = backend
        first = try parameters.map { p in let t = try backend.makeTensor(p.value.shape); try backend.fill(t, with: 0); return t }
        second = try parameters.map { p in let t = try backend.makeTensor(p.value.shape); try backend.fill(t, with: 0); return t }
    }

    /// One update at learning rate `rate` (before group multipliers).
    public func step(rate: Float) throws {
        if let clipNorm {
            var total = 0.0
            for p in parameters {
                let norm = try backend.makeTensor([1])
                try backend.reduceRows(p.gradient, into: norm, .norm, RowsShape(rows: 1, columns: p.gradient.count))
                let value = Double(try backend.download(norm)[0])
                total += value * value
            }
            let norm = total.squareRoot()
            if norm > Double(clipNorm) {
                for p in parameters { try backend.scale(p.gradient, by: Float(Double(clipNorm) / norm), into: p.gradient) }
            }
        }
        steps += 1
        for (index, p) in parameters.enumerated() {
            try backend.optimizerStep(p.value, p.gradient, first: first[index], second: second[index],
                                      .adam(lr: rate * p.rateMultiplier, beta1: beta1, beta2: beta2, epsilon: epsilon,
                                            weightDecay: weightDecay, decoupled: decoupled, t: steps))
        }
    }

    /// The optimiser's state tensors by name, for checkpoints.
    public var state: [(String, Tensor)] {
        parameters.indices.flatMap { [("adam.m." + parameters[$0].name, first[$0]), ("adam.v." + parameters[$0].name, second[$0])] }
    }

    /// Restores the step count after loading the state tensors.
    public func restore(steps: Int) { self.steps = steps }
}
