import Foundation
import LDMEngine
import LDMReference
import Testing

/// pool.cl on every backend: max and average window pooling and global average pooling against the Double
/// definitions, their backwards against central differences; bad shapes refused.
@Suite("pool.cl")
struct PoolTests {
    static let shapes: [PoolShape] = PoolKind.allCases.flatMap { kind in [
        PoolShape(batch: 2, height: 7, width: 6, channels: 3, window: 3, stride: 2, padding: 1, kind: kind),
        PoolShape(batch: 3, height: 4, width: 5, channels: 2, window: 2, stride: 2, kind: kind),
        PoolShape(batch: 1, height: 5, width: 5, channels: 4, window: 3, stride: 1, kind: kind),
    ] }

    @Test(arguments: TestBackends.all)
    func poolingMatchesTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x9001)
        for s in Self.shapes {
            // Distinct values, so every window's maximum is unique and the max's derivative exists.
            let x = generator.floats(s.inputCount).enumerated().map { $0.element + Float($0.offset) * 1e-3 }
            let g = generator.floats(s.outputCount)
            let tx = try backend.upload(x, shape: s.inputShape), y = try backend.makeTensor(s.outputShape)
            try backend.pool(tx, into: y, s)
            let x64 = x.map(Double.init), g64 = g.map(Double.init)
            expectClose(try backend.download(y), Reference.pool(x64, s), tolerance: Tolerance.float32, "y \(s) on \(name)")
            let dx = try backend.makeTensor(s.inputShape)
            try backend.poolBackward(tx, try backend.upload(g, shape: s.outputShape), into: dx, s)
            let expected = finiteDifferenceGradient(x64, step: 1e-6) { x in zip(Reference.pool(x, s), g64).reduce(0) { $0 + $1.0 * $1.1 } }
            expectClose(try backend.download(dx), expected, tolerance: Tolerance.gradient, "dx \(s) on \(name)")
        }
    }

    @Test(arguments: TestBackends.all)
    func maxPoolingSendsTiesToTheFirstMaximum(_ name: String) throws {
        // A constant image: every window ties; the gradient goes to each window's first input in row-major order.
        let backend = try TestBackends.named(name)
        let s = PoolShape(batch: 1, height: 4, width: 4, channels: 1, window: 2, stride: 2, kind: .max)
        let dx = try backend.makeTensor(s.inputShape)
        try backend.poolBackward(try backend.upload([Float](repeating: 1, count: 16), shape: s.inputShape),
                                 try backend.upload([1, 2, 3, 4], shape: s.outputShape), into: dx, s)
        #expect(try backend.download(dx) == [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0])
    }

    @Test(arguments: TestBackends.all)
    func globalAveragePoolingMatchesTheReferenceAndDifferences(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x9a9)
        let s = GlobalPoolShape(batch: 3, positions: 49, channels: 5)
        let x = generator.floats(s.inputCount), g = generator.floats(s.outputCount)
        let y = try backend.makeTensor([3, 5]), dx = try backend.makeTensor([3, 49, 5])
        try backend.globalAveragePool(try backend.upload(x, shape: [3, 49, 5]), into: y, s)
        let x64 = x.map(Double.init), g64 = g.map(Double.init)
        expectClose(try backend.download(y), Reference.globalAveragePool(x64, s), tolerance: Tolerance.float32, "y on \(name)")
        try backend.globalAveragePoolBackward(try backend.upload(g, shape: [3, 5]), into: dx, s)
        let expected = finiteDifferenceGradient(x64) { x in zip(Reference.globalAveragePool(x, s), g64).reduce(0) { $0 + $1.0 * $1.1 } }
        expectClose(try backend.download(dx), expected, tolerance: Tolerance.gradient, "dx on \(name)")
    }

    @Test func badPoolShapesAreRefused() throws {
        let backend = try TestBackends.named("cpu")
        let s = PoolShape(batch: 1, height: 4, width: 4, channels: 1, window: 2, stride: 2, kind: .max)
        let x = try backend.makeTensor(s.inputShape)
        #expect(throws: LDMError.self) { try backend.pool(x, into: try backend.makeTensor([5]), s) }
        #expect(throws: LDMError.self) {   // padding over half the window leaves windows of padding only
            var bad = s; bad.padding = 2
            try backend.pool(x, into: try backend.makeTensor([bad.outputCount]), bad)
        }
        #expect(throws: LDMError.self) {
            try backend.globalAveragePool(x, into: try backend.makeTensor([1]), GlobalPoolShape(batch: 1, positions: 0, channels: 1))
        }
    }
}
