import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// The modules (Linear, the activations, BatchNorm, L2Normalize, the MLP builder, the observation-noise network):
/// each backward against central differences of a linear functional along random directions, gradient
/// accumulation, BatchNorm's running statistics, and the momentum target's tracking.
@Suite("Modules")
struct ModuleTests {
    /// The MLP's backward (Linear as matmuls, activation.cl) against a central difference of a linear functional
    /// of its output along a random direction of every parameter, for the smooth activations and for ReLU away
    /// from its kink.
    @Test(arguments: TestBackends.all, Activation.allCases.filter { $0 != .logShifted })   // log needs positive inputs
    func mlpGradientMatchesDirectionalDifferences(_ name: String, _ activation: Activation) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 9)
        let mlp = try Sequential.mlp(widths: [12, 9, 3], activation: activation, on: backend, generator: &generator)
        let x = try backend.upload(generator.floats(5 * 12), shape: [5, 12])
        let weights = generator.floats(5 * 3)
        func functional() throws -> Double {
            zip(try backend.download(try mlp.forward(x, training: true)), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        let dx = try mlp.backward(try backend.upload(weights, shape: [5, 3]))
        var checks = try mlp.parameters.map { ("\($0.name) \(activation) on \(name)", $0.value, try backend.download($0.gradient)) }
        checks.append(("input \(activation) on \(name)", x, try backend.download(dx)))
        // ReLU and |x| are piecewise linear: a smaller step keeps the differences off their kinks.
        try expectDirectionalDifferences(checks, on: backend, epsilon: activation == .relu || activation == .absolute ? 1e-3 : 1e-2,
                                         tolerance: 2e-3, generator: &generator, functional)
    }

    /// An MLP with BatchNorm and an L2-normalised output: its backward against central differences of a linear
    /// functional along a random unit direction of every parameter and of the input.
    @Test(arguments: TestBackends.all)
    func normalisedMLPGradientMatchesDirectionalDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 32)
        let mlp = try Sequential.mlp(widths: [6, 9, 4], activation: .tanh, batchNorm: true, on: backend, generator: &generator)
        let normalize = L2Normalize(on: backend)
        let x = try backend.upload(generator.floats(7 * 6), shape: [7, 6])
        let weights = generator.floats(7 * 4)
        func functional() throws -> Double {
            let z = try normalize.forward(try mlp.forward(x, training: true), training: true)
            return zip(try backend.download(z), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        let dx = try mlp.backward(try normalize.backward(try backend.upload(weights, shape: [7, 4])))
        var checks = try mlp.parameters.map { ("\($0.name) on \(name)", $0.value, try backend.download($0.gradient)) }
        checks.append(("input on \(name)", x, try backend.download(dx)))
        #expect(mlp.parameters.count == 6)   // two Linear layers and one BatchNorm
        try expectDirectionalDifferences(checks, on: backend, epsilon: 1e-2, tolerance: 3e-3, generator: &generator, functional)
    }

    /// The BatchNorm layer's running statistics follow PyTorch's update (momentum 0.1, unbiased variance).
    @Test func batchNormLayerTracksRunningStatistics() throws {
        let backend = try TestBackends.named("cpu")
        let layer = try BatchNorm(features: 2, name: "bn", on: backend)
        let x: [Float] = [1, 10, 3, 20, 5, 60]   // columns (1, 3, 5) and (10, 20, 60)
        _ = try layer.forward(try backend.upload(x, shape: [3, 2]), training: true)
        let mean = try backend.download(layer.runningMean), variance = try backend.download(layer.runningVariance)
        #expect(abs(mean[0] - 0.3) < 1e-6 && abs(mean[1] - 3) < 1e-5)
        // Unbiased variances 4 and 700: 0.9·1 + 0.1·v.
        #expect(abs(variance[0] - 1.3) < 1e-5 && abs(variance[1] - 70.9) < 1e-3, "\(variance)")
    }

    /// The network's backward (variance_features, |W| layers, ReLU, log) against central differences of a linear
    /// functional of ℓ along a random unit direction of every parameter.
    @Test(arguments: TestBackends.all)
    func noiseNetworkGradientMatchesDirectionalDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 22)
        let network = try Sequential.observationNoiseNetwork(features: 16, latentDimension: 3, rateMultiplier: 1, on: backend)
        // Perturb the ones/constant initialisation so that every path carries a distinct gradient.
        for p in network.parameters {
            let value = try backend.download(p.value)
            try backend.write(zip(value, generator.floats(value.count)).map { $0 + 0.05 * abs($1) + 0.01 }, to: p.value)
        }
        let x = try backend.upload(generator.floats(20 * 16), shape: [20, 16])
        let weights = generator.floats(20 * 3)
        func functional() throws -> Double {
            zip(try backend.download(try network.forward(x, training: true)), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        _ = try functional()
        _ = try network.backward(try backend.upload(weights, shape: [20, 3]))
        let checks = try network.parameters.map { ("\($0.name) on \(name)", $0.value, try backend.download($0.gradient)) }
        try expectDirectionalDifferences(checks, on: backend, epsilon: 1e-3, tolerance: 5e-3, generator: &generator, functional)
    }

    /// The momentum target: `track` with m = 0 copies the online network, with m = ½ averages; the schedule rises
    /// from the base momentum to 1 on a cosine.
    @Test(arguments: TestBackends.all)
    func momentumTargetTracksTheOnlineNetwork(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 21)
        let online = try Sequential.mlp(widths: [3, 5, 2], on: backend, generator: &generator)
        let target = try Sequential.mlp(widths: [3, 5, 2], name: "target", on: backend, generator: &generator)
        let before = try target.parameters.map { try backend.download($0.value) }
        try target.track(online, momentum: 0.5, on: backend)
        for ((t, o), old) in zip(zip(target.parameters, online.parameters), before) {
            let expected = zip(old, try backend.download(o.value)).map { 0.5 * Double($0) + 0.5 * Double($1) }
            expectClose(try backend.download(t.value), expected, tolerance: Tolerance.float32, "\(t.name) on \(name)")
        }
        try target.track(online, momentum: 0, on: backend)
        for (t, o) in zip(target.parameters, online.parameters) { #expect(try backend.download(t.value) == backend.download(o.value)) }
        #expect(throws: LDMError.self) { try target.track(try Sequential.mlp(widths: [3, 4, 2], on: backend, generator: &generator), momentum: 0.9, on: backend) }
        #expect(throws: LDMError.self) { try target.track(online, momentum: 1.5, on: backend) }
        #expect(TwoViewLearner.momentum(base: 0.99, step: 0, of: 100) == 0.99)
        #expect(abs(TwoViewLearner.momentum(base: 0.99, step: 50, of: 100) - 0.995) < 1e-6)
        #expect(TwoViewLearner.momentum(base: 0.99, step: 100, of: 100) == 1)
    }

    /// Gradients accumulate: two backward passes through the same forward add up to twice one, so a module can be
    /// used twice in a step (the loop zeroes the gradients before each step).
    @Test(arguments: TestBackends.all)
    func backwardAddsToTheGradients(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 23)
        let mlp = try Sequential.mlp(widths: [4, 6, 3], batchNorm: true, on: backend, generator: &generator)
        let x = try backend.upload(generator.floats(9 * 4), shape: [9, 4]), dy = try backend.upload(generator.floats(9 * 3), shape: [9, 3])
        _ = try mlp.forward(x, training: true)
        _ = try mlp.backward(dy)
        let once = try mlp.parameters.map { try backend.download($0.gradient) }
        _ = try mlp.backward(dy)
        for (parameter, first) in zip(mlp.parameters, once) {
            expectClose(try backend.download(parameter.gradient), first.map { 2 * Double($0) }, tolerance: Tolerance.float32,
                        "\(parameter.name) after two backward passes on \(name)")
        }
        #expect(mlp.state.map(\.0) == ["encoder.0.norm.running_mean", "encoder.0.norm.running_var"])
    }
}
