import LDMEngine

/// A trainable tensor with its gradient, both on the backend, and a name for checkpoints.
public final class Parameter {
    public let name: String
    public let value: Tensor
    public let gradient: Tensor
    /// The learning-rate multiplier of its parameter group (the Kalman parameters train at 100×).
    public let rateMultiplier: Float

    public init(name: String, value: Tensor, on backend: any Backend, rateMultiplier: Float = 1) throws {
        self.name = name
        self.value = value
        gradient = try backend.makeTensor(value.shape)
        try backend.fill(gradient, with: 0)
        self.rateMultiplier = rateMultiplier
    }
}

/// A layer or network with an explicit forward and backward pass, in the manner of llm.c: each module keeps what
/// its own backward needs from its last forward pass, so networks are composed (``Sequential``), never wired by
/// hand, and there is no tape or graph.
///
/// ```swift
/// var generator = SeededGenerator(seed: 0)
/// let encoder = try Sequential.mlp(widths: [100, 100, 2], on: backend, generator: &generator)
/// let z = try encoder.forward(frames, training: true)         // [N, 2]
/// _ = try encoder.backward(dz)                                 // adds ∂L/∂θ to every parameter's gradient
/// ```
public protocol Module: AnyObject {
    /// y for x. `training` selects training behaviour (BatchNorm's batch statistics); the module remembers what
    /// its backward needs from this call.
    func forward(_ x: Tensor, training: Bool) throws -> Tensor
    /// Backward through the last forward pass: adds ∂L/∂θ for `dy = ∂L/∂y` to each parameter's gradient (callers
    /// zero the gradients before a step; the training loop does) and returns ∂L/∂x.
    func backward(_ dy: Tensor) throws -> Tensor
    /// The trainable parameters, in a fixed order.
    var parameters: [Parameter] { get }
    /// Named tensors that are not trained but belong in a checkpoint (BatchNorm's running statistics).
    var state: [(String, Tensor)] { get }
    /// The modules this one is made of (none for a layer).
    var children: [any Module] { get }
}

extension Module {
    public var parameters: [Parameter] { [] }
    public var state: [(String, Tensor)] { [] }
    public var children: [any Module] { [] }

    /// Every module of type `T` in this one, itself included, depth first.
    public func modules<T>(of type: T.Type) -> [T] {
        ((self as? T).map { [$0] } ?? []) + children.flatMap { $0.modules(of: type) }
    }

    /// The parameters' values and the state by name: what a checkpoint holds of this module.
    public var checkpointTensors: [(String, Tensor)] { parameters.map { ($0.name, $0.value) } + state }

    /// Moves every parameter toward `online`'s, `p ← m·p + (1 − m)·p_online` (BYOL's momentum target; m = 0
    /// copies), on the backend. The modules must have parameters of the same shapes in the same order; state
    /// (running statistics) stays this module's own.
    public func track(_ online: any Module, momentum m: Float, on backend: any Backend) throws {
        let mine = parameters, theirs = online.parameters
        guard mine.count == theirs.count, zip(mine, theirs).allSatisfy({ $0.value.shape == $1.value.shape }) else {
            throw LDMError.shapeMismatch(operation: "track", detail: "the target and the online network differ in shape")
        }
        guard m.isFinite, (0...1).contains(m) else { throw LDMError.invalidArgument("track: momentum must be in [0, 1], got \(m)") }
        for (target, source) in zip(mine, theirs) {
            try backend.scale(target.value, by: m, into: target.value)
            try backend.axpy(1 - m, source.value, target.value)
        }
    }
}

/// Modules applied one after another; the backward runs them in reverse.
public final class Sequential: Module {
    public let modules: [any Module]

    public init(_ modules: [any Module]) {
        self.modules = modules
    }

    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try modules.reduce(x) { try $1.forward($0, training: training) }
    }

    public func backward(_ dy: Tensor) throws -> Tensor {
        try modules.reversed().reduce(dy) { try $1.backward($0) }
    }

    public var parameters: [Parameter] { modules.flatMap(\.parameters) }
    public var state: [(String, Tensor)] { modules.flatMap(\.state) }
    public var children: [any Module] { modules }
}

/// Throws unless a backward pass has the forward's record it needs.
func recorded<T>(_ value: T?, _ module: String) throws -> T {
    guard let value else { throw LDMError.invalidArgument("\(module).backward needs a forward pass first") }
    return value
}
