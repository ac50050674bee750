import Foundation
import LDMEngine
import LDMReference
import Testing

/// activation.cl, optimizer.cl, reduce.cl's row softmax and strided_copy.cl on every backend: values against the
/// Double reference, the activation and softmax derivatives against central finite differences, the strided copy
/// against its adjoint.
@Suite("Training kernels")
struct TrainingKernelTests {
    static var backends: [String] { ["cpu"] + (TestBackends.openCLEnabled ? ["opencl"] : []) }

    @Test(arguments: backends, Activation.allCases)
    func activationMatchesTheReferenceAndItsDerivative(_ name: String, _ kind: Activation) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 3)
        // 1001 elements (not a multiple of any work-group), values away from the kinks of relu and |x| for the
        // differences; log(x + 1e-5) is defined for positive variances only.
        let spread = generator.floats(1001).map { 3 * $0 }.map { abs($0) < 1e-2 ? $0 + 0.05 : $0 }
        let host = kind == .logShifted ? spread.map { abs($0) + 0.1 } : spread
        let weights = generator.floats(1001)
        let x = try backend.upload(host, shape: [1001]), y = try backend.makeTensor([1001])
        try backend.activation(x, into: y, kind)
        expectClose(try backend.download(y), Reference.activation(host.map(Double.init), kind),
                    tolerance: ParityChecks.float32Tolerance, "\(kind) on \(name)")
        let dx = try backend.makeTensor([1001])
        try backend.activationBackward(x, try backend.upload(weights, shape: [1001]), into: dx, kind)
        let w64 = weights.map(Double.init)
        let expected = finiteDifferenceGradient(host.map(Double.init)) { v in
            zip(Reference.activation(v, kind), w64).reduce(0) { $0 + $1.0 * $1.1 }
        }
        expectClose(try backend.download(dx), expected, tolerance: GradientTests.tolerance, "\(kind)' on \(name)")
    }

    /// Row softmax: odd shapes (one column, rows wider than a work-group), an inverse temperature, outliers that
    /// would overflow a raw exp; the backward against central differences of a weighted sum of the outputs.
    @Test(arguments: backends)
    func softmaxMatchesTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 5)
        for (rows, columns, scale) in [(37, 10, Float(1)), (5, 1, 2), (3, 300, 0.7)] as [(Int, Int, Float)] {
            let shape = RowsShape(rows: rows, columns: columns)
            var host = generator.floats(rows * columns).map { 2 * $0 }
            host[0] = 200    // exp(200) overflows float32: the running maximum keeps the row finite
            let x = try backend.upload(host, shape: [rows, columns]), y = try backend.makeTensor([rows, columns])
            try backend.softmaxRows(x, into: y, scale: scale, shape)
            let values = try backend.download(y)
            expectClose(values, Reference.softmaxRows(host, scale: Double(scale), shape), tolerance: ParityChecks.float32Tolerance,
                        "softmax \(shape) ×\(scale) on \(name)")
            #expect(values.allSatisfy { $0.isFinite })
            let weights = generator.floats(rows * columns), w64 = weights.map(Double.init)
            let dx = try backend.makeTensor([rows, columns])
            try backend.softmaxRowsBackward(y, try backend.upload(weights, shape: [rows, columns]), into: dx, scale: scale, shape)
            // The differences on moderate inputs (at x = 200 the row is one-hot and every derivative underflows).
            var moderate = host
            moderate[0] = 0.5
            let my = try backend.makeTensor([rows, columns])
            try backend.softmaxRows(try backend.upload(moderate, shape: [rows, columns]), into: my, scale: scale, shape)
            try backend.softmaxRowsBackward(my, try backend.upload(weights, shape: [rows, columns]), into: dx, scale: scale, shape)
            let expected = finiteDifferenceGradient(moderate.map(Double.init)) { v in
                zip(Reference.softmaxRows(v, scale: Double(scale), shape), w64).reduce(0) { $0 + $1.0 * $1.1 }
            }
            expectClose(try backend.download(dx), expected, tolerance: GradientTests.tolerance, "softmax' \(shape) on \(name)")
        }
        let t = try backend.makeTensor([2, 3])
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: t, scale: 1, RowsShape(rows: 2, columns: 3)) }
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: try backend.makeTensor([6]), scale: 0, RowsShape(rows: 2, columns: 3)) }
        #expect(throws: LDMError.self) { try backend.softmaxRows(t, into: try backend.makeTensor([5]), scale: 1, RowsShape(rows: 2, columns: 3)) }
    }

    /// Strided copies: overlapping source windows written into a packed matrix, a shifted slice added into a
    /// NaN-free destination; the copy's adjoint (the layouts swapped, accumulating) satisfies ⟨P·x, y⟩ = ⟨x, Pᵀ·y⟩,
    /// which is how its gradient is taken. Overlapping destinations, runs out of range and aliasing are refused.
    @Test(arguments: backends)
    func stridedCopyMatchesTheReferenceAndItsAdjoint(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 6)
        let (b, t, d, m) = (3, 17, 5, 3)   // sequences, steps, features, window
        let z = generator.floats(b * t * d), tz = try backend.upload(z, shape: [b, t, d])
        let windows = StridedCopyShape(blocks: b, rows: t - m + 1, width: m * d,
                                       source: StridedLayout(blockStride: t * d, rowStride: d),
                                       destination: StridedLayout(blockStride: (t - m + 1) * m * d, rowStride: m * d))
        let shifted = StridedCopyShape(blocks: b, rows: t - 2, width: d,
                                       source: StridedLayout(offset: 2 * d, blockStride: t * d, rowStride: d),
                                       destination: StridedLayout(offset: 1, blockStride: (t - 2) * d + 3, rowStride: d), accumulate: true)
        for shape in [windows, shifted] {
            let start = generator.floats(shape.extent(shape.destination) + 2)
            let out = try backend.upload(start, shape: [start.count])
            try backend.stridedCopy(tz, into: out, shape)
            expectClose(try backend.download(out), Reference.stridedCopy(z, into: start, shape), tolerance: ParityChecks.float32Tolerance,
                        "stridedCopy \(shape) on \(name)")
            // The adjoint: y in the destination's layout, scattered back onto zeros shaped like z.
            let y = generator.floats(start.count), back = try backend.makeTensor([b, t, d])
            try backend.fill(back, with: 0)
            let adjoint = StridedCopyShape(blocks: shape.blocks, rows: shape.rows, width: shape.width, source: shape.destination,
                                           destination: shape.source, accumulate: true)
            if shape == windows {
                // Windows overlap in z, so their adjoint scatters one window column block at a time.
                for j in 0..<m {
                    try backend.stridedCopy(try backend.upload(y, shape: [y.count]), into: back, StridedCopyShape(
                        blocks: b, rows: t - m + 1, width: d,
                        source: StridedLayout(offset: j * d, blockStride: windows.destination.blockStride, rowStride: m * d),
                        destination: StridedLayout(offset: j * d, blockStride: t * d, rowStride: d), accumulate: true))
                }
            } else {
                try backend.stridedCopy(try backend.upload(y, shape: [y.count]), into: back, adjoint)
            }
            let zeros = [Float](repeating: 0, count: start.count)
            let forward = zip(Reference.stridedCopy(z, into: zeros, StridedCopyShape(blocks: shape.blocks, rows: shape.rows, width: shape.width,
                                                                                    source: shape.source, destination: shape.destination)), y)
                .reduce(0) { $0 + $1.0 * Double($1.1) }
            let backward = zip(try backend.download(back), z).reduce(0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(forward - backward) <= 1e-5 * max(1, abs(forward)), "⟨Px, y⟩ \(forward) vs ⟨x, Pᵀy⟩ \(backward) for \(shape) on \(name)")
        }
        let small = try backend.makeTensor([10])
        let overlapping = StridedCopyShape(blocks: 1, rows: 2, width: 3, source: StridedLayout(blockStride: 0, rowStride: 3),
                                           destination: StridedLayout(blockStride: 0, rowStride: 2))
        #expect(throws: LDMError.self) { try backend.stridedCopy(tz, into: small, overlapping) }
        let tooFar = StridedCopyShape(blocks: 1, rows: 4, width: 3, source: StridedLayout(blockStride: 0, rowStride: 3),
                                      destination: StridedLayout(blockStride: 0, rowStride: 3))
        #expect(throws: LDMError.self) { try backend.stridedCopy(tz, into: small, tooFar) }
        #expect(throws: LDMError.self) { try backend.stridedCopy(small, into: small, StridedCopyShape(
            blocks: 1, rows: 1, width: 2, source: StridedLayout(blockStride: 0, rowStride: 0), destination: StridedLayout(offset: 4, blockStride: 0, rowStride: 0))) }
    }

    @Test(arguments: backends)
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
            expectClose(try backend.download(tensors[0]), ep, tolerance: ParityChecks.float32Tolerance, "parameter \(step) on \(name)")
            expectClose(try backend.download(tensors[2]), em, tolerance: ParityChecks.float32Tolerance, "first moment \(step) on \(name)")
            expectClose(try backend.download(tensors[3]), ev, tolerance: ParityChecks.float32Tolerance, "second moment \(step) on \(name)")
        }
        let t = try backend.makeTensor([3])
        #expect(throws: LDMError.self) {
            try backend.optimizerStep(t, t, first: t, second: t, .adam(lr: 0.1, beta1: 1, beta2: 0.9, epsilon: 1e-8, weightDecay: 0, decoupled: false, t: 1))
        }
        #expect(throws: LDMError.self) { try backend.optimizerStep(t, try backend.makeTensor([4]), first: t, second: t, .sgd(lr: 0.1, momentum: 0, weightDecay: 0)) }
    }
}
