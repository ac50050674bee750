import Foundation
import LDMEngine
import LDMReference
import LDMTraining
import Testing

/// optimizer.cl on every backend: Adam, AdamW and SGD steps against the Double reference; the optimisers built on
/// it (SGD with momentum, LARS, global-norm clipping) against hand-computed updates.
@Suite("optimizer.cl")
struct OptimizerTests {
    @Test(arguments: TestBackends.all)
    func optimizerStepsMatchTheReference(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 4)
        let n = 777
        let steps: [OptimizerStep] = [
            .adam(lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-4, decoupled: false, t: 3),
            .adam(lr: 0.02, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.05, decoupled: true, t: 1),
            .sgd(lr: 0.1, momentum: 0.9, weightDecay: 1e-3)]
        for step in steps {
            let p = generator.floats(n), g = generator.floats(n), m = generator.floats(n).map { 0.1 * $0 }
            let v = generator.floats(n).map { 0.01 * abs($0) }
            let tensors = try [p, g, m, v].map { try backend.upload($0, shape: [n]) }
            try backend.optimizerStep(tensors[0], tensors[1], first: tensors[2], second: tensors[3], step)
            let (ep, em, ev) = Reference.optimizerStep(p.map(Double.init), g.map(Double.init), first: m.map(Double.init),
                                                      second: v.map(Double.init), step)
            expectClose(try backend.download(tensors[0]), ep, tolerance: Tolerance.float32, "parameter \(step) on \(name)")
            expectClose(try backend.download(tensors[2]), em, tolerance: Tolerance.float32, "first moment \(step) on \(name)")
            expectClose(try backend.download(tensors[3]), ev, tolerance: Tolerance.float32, "second moment \(step) on \(name)")
        }
        let t = try backend.makeTensor([3])
        #expect(throws: LDMError.self) {
            try backend.optimizerStep(t, t, first: t, second: t, .adam(lr: 0.1, beta1: 1, beta2: 0.9, epsilon: 1e-8, weightDecay: 0, decoupled: false, t: 1))
        }
        #expect(throws: LDMError.self) { try backend.optimizerStep(t, try backend.makeTensor([4]), first: t, second: t, .sgd(lr: 0.1, momentum: 0, weightDecay: 0)) }
    }

    /// SGD with momentum and LARS on the device against hand-computed updates.
    @Test(arguments: TestBackends.all)
    func sgdAndLARSTakeTheirDocumentedSteps(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let weight: [Float] = [3, 4, 0, 0], gradient: [Float] = [0.6, 0, 0, 0.8], bias: [Float] = [1, -1]
        func parameters() throws -> [Parameter] {
            let w = try Parameter(name: "w", value: try backend.upload(weight, shape: [2, 2]), on: backend)
            let b = try Parameter(name: "b", value: try backend.upload(bias, shape: [2]), on: backend)
            try backend.write(gradient, to: w.gradient)
            try backend.write([0.5, 0.5], to: b.gradient)
            return [w, b]
        }
        // SGD, momentum 0.9, two steps with the same gradient: v = g then 1.9·g; p ← p − 0.1·v each time.
        let sgdParameters = try parameters()
        let sgd = try SGDOptimizer(sgdParameters, momentum: 0.9, on: backend)
        try sgd.step(rate: 0.1)
        try sgd.step(rate: 0.1)
        let sgdExpected = zip(weight, gradient).map { Double($0) - 0.1 * Double($1) * 2.9 }
        expectClose(try backend.download(sgdParameters[0].value), sgdExpected, tolerance: 1e-6, "sgd on \(name)")
        // LARS, wd 0.01: ‖w‖ = 5, ‖g‖ = 1, trust = 1e-3·5/(1 + 0.05); the matrix steps by rate·trust·(g + wd·w), the
        // bias by rate·g with neither decay nor trust.
        let larsParameters = try parameters()
        let lars = try LARSOptimizer(larsParameters, momentum: 0.9, weightDecay: 0.01, on: backend)
        try lars.step(rate: 2)
        let trust = 1e-3 * 5 / 1.05
        let larsExpected = zip(weight, gradient).map { Double($0) - 2 * trust * (Double($1) + 0.01 * Double($0)) }
        expectClose(try backend.download(larsParameters[0].value), larsExpected, tolerance: 1e-6, "lars weight on \(name)")
        expectClose(try backend.download(larsParameters[1].value), [0, -2], tolerance: 1e-6, "lars bias on \(name)")
        #expect(abs(Double(LARSOptimizer.trustRatio(weightNorm: 5, gradientNorm: 1, weightDecay: 0.01, coefficient: 1e-3)) - trust) < 1e-9)
        #expect(LARSOptimizer.trustRatio(weightNorm: 0, gradientNorm: 1, weightDecay: 0, coefficient: 1e-3) == 1)
    }

    /// Global-norm clipping rescales every gradient by clip/‖g‖ when ‖g‖ exceeds it, before the update.
    @Test(arguments: TestBackends.all)
    func clippingRescalesTheGlobalGradientNorm(_ name: String) throws {
        let backend = try TestBackends.named(name)
        let parameters = try [[Float](repeating: 1, count: 5), [Float](repeating: 1, count: 3)].enumerated().map {
            try Parameter(name: "p\($0.offset)", value: try backend.upload($0.element, shape: [$0.element.count]), on: backend)
        }
        try backend.write([3, 0, 0, 0, 0], to: parameters[0].gradient)
        try backend.write([0, 4, 0], to: parameters[1].gradient)   // global norm 5
        let optimizer = try AdamOptimizer(parameters, on: backend)
        optimizer.clipNorm = 1
        try optimizer.step(rate: 0.1)
        expectClose(try backend.download(parameters[0].gradient), [0.6, 0, 0, 0, 0], tolerance: 1e-6, "clipped gradient on \(name)")
        expectClose(try backend.download(parameters[1].gradient), [0, 0.8, 0], tolerance: 1e-6, "clipped gradient on \(name)")
        #expect(optimizer.steps == 1)
    }
}
