import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// The convolutional modules (Conv2d, Pool2d, GlobalAveragePool, Residual, BatchNorm over channels) and the two
/// image encoders: each network's backward against central differences of a linear functional of its output along
/// a random direction of every parameter and of the input.
@Suite("Convolutional modules")
struct ConvolutionModuleTests {
    /// The gradient of Σ w·network(x) for every parameter (and the input, when the first layer passes it back)
    /// against directional differences.
    func expectNetworkGradients(_ network: Sequential, input shape: TensorShape, inputGradient: Bool, epsilon: Float = 1e-3, on backend: any Backend,
                                _ label: String, seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        let x = try backend.upload(generator.floats(shape.count), shape: shape)
        let y = try network.forward(x, training: true)
        let weights = generator.floats(y.count)
        func functional() throws -> Double {
            zip(try backend.download(try network.forward(x, training: true)), weights).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        for parameter in network.parameters { try backend.fill(parameter.gradient, with: 0) }
        let dx = try network.backward(try backend.upload(weights, shape: y.shape))
        var checks = try network.parameters.map { ("\($0.name) on \(label)", $0.value, try backend.download($0.gradient)) }
        if inputGradient { checks.append(("input on \(label)", x, try backend.download(dx))) } else { #expect(dx.count == 0) }
        // ReLU and max are piecewise linear: a small step keeps the differences off their kinks.
        try expectDirectionalDifferences(checks, on: backend, epsilon: epsilon, tolerance: 5e-3, generator: &generator, functional)
    }

    @Test(arguments: TestBackends.all, [false, true])
    func smallCNNGradientMatchesDirectionalDifferences(_ name: String, _ batchNorm: Bool) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 41)
        let (network, features) = try ImageEncoder.cnn.make(channels: 2, widths: [3, 4, 5], batchNorm: batchNorm, name: "encoder",
                                                            on: backend, generator: &generator)
        #expect(features == 5)
        #expect(network.parameters.count == (batchNorm ? 9 : 6))   // three convolutions (+ bias or BatchNorm's γ, β)
        try expectNetworkGradients(network, input: [3, 9, 7, 2], inputGradient: false, on: backend, "cnn bn=\(batchNorm) \(name)", seed: 5)
    }

    @Test(arguments: TestBackends.all)
    func resnetGradientMatchesDirectionalDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 42)
        // tanh for ReLU: with 17 layers of kinks some unit always sits within a difference step of one, so the
        // wiring is checked with a smooth activation (the ReLU itself is checked in the cnn test and activation.cl's).
        let (network, features) = try ImageEncoder.resnet18.make(channels: 1, widths: [2], batchNorm: true, activation: .tanh,
                                                                 name: "encoder", on: backend, generator: &generator)
        #expect(features == 16)
        // Stem conv + BN, 8 blocks of two convs + two BNs, 3 projection shortcuts (conv + BN): 3 + 8·6 + 3·3 tensors.
        #expect(network.parameters.count == 3 + 48 + 9)
        try expectNetworkGradients(network, input: [4, 8, 8, 1], inputGradient: false, on: backend, "resnet18 \(name)", seed: 6)
    }

    @Test(arguments: TestBackends.all)
    func poolingAndResidualModulesPassGradientsBack(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 43)
        let block = Residual(main: Sequential([
            try Conv2d(inputChannels: 3, outputChannels: 3, kernel: 3, padding: 1, name: "a", on: backend, generator: &generator),
            ActivationLayer(.tanh, on: backend),
        ]), shortcut: nil, on: backend)
        let network = Sequential([
            try Conv2d(inputChannels: 2, outputChannels: 3, kernel: 1, name: "pointwise", on: backend, generator: &generator),
            try BatchNorm(features: 3, name: "norm", on: backend), block,
            Pool2d(.max, window: 2, stride: 2, on: backend), Pool2d(.average, window: 3, stride: 1, padding: 1, on: backend),
            GlobalAveragePool(on: backend),
        ])
        try expectNetworkGradients(network, input: [2, 6, 6, 2], inputGradient: true, on: backend, "pool/residual \(name)", seed: 7)
    }

    @Test func badEncoderSettingsAndInputsAreRefused() throws {
        let backend = try TestBackends.named("cpu")
        var generator = SeededGenerator(seed: 1)
        #expect(throws: LDMError.self) {
            _ = try ImageEncoder.cnn.make(channels: 1, widths: [3, 4], batchNorm: false, name: "e", on: backend, generator: &generator)
        }
        #expect(throws: LDMError.self) {
            _ = try ImageEncoder.resnet18.make(channels: 1, widths: [0], batchNorm: true, name: "e", on: backend, generator: &generator)
        }
        let conv = try Conv2d(inputChannels: 2, outputChannels: 3, kernel: 3, name: "c", on: backend, generator: &generator)
        #expect(throws: LDMError.self) { _ = try conv.forward(try backend.makeTensor([4, 8]), training: true) }        // not NHWC
        #expect(throws: LDMError.self) { _ = try conv.forward(try backend.makeTensor([1, 5, 5, 3]), training: true) }  // 3 channels, not 2
        #expect(throws: LDMError.self) { _ = try conv.backward(try backend.makeTensor([1])) }                           // no forward yet
    }
}
