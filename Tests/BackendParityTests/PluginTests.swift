import Foundation
import LDMEngine
import LDMObjectives
import LDMReference
import Testing

/// plugin.cl on every backend: the categorical plug-in entropy of the batch joint and of the batch marginal against
/// the Double reference, its gradients against central differences; and the categorical objective built on it.
@Suite("plugin.cl")
struct PluginTests {
    /// Softmax rows of seeded logits.
    static func softmaxRows(_ rows: Int, _ classes: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return Reference.softmaxRows(generator.floats(rows * classes).map { 2 * $0 }, RowsShape(rows: rows, columns: classes)).map(Float.init)
    }

    @Test(arguments: TestBackends.all, [true, false])
    func entropyMatchesTheReferenceAndDifferences(_ name: String, _ joint: Bool) throws {
        let backend = try TestBackends.named(name)
        let (rows, classes) = (37, 5)   // not a multiple of a work-group
        let host1 = Self.softmaxRows(rows, classes, seed: 60), host2 = Self.softmaxRows(rows, classes, seed: 61)
        let z1 = try backend.upload(host1, shape: [rows, classes]), z2 = try backend.upload(host2, shape: [rows, classes])
        let g1 = try backend.makeTensor([rows, classes]), g2 = try backend.makeTensor([rows, classes])
        let a = host1.map(Double.init), b = host2.map(Double.init)
        let reference = { (x: [Double], y: [Double]) in
            joint ? Reference.categoricalJointEntropy(x, y, classes: classes) : Reference.categoricalMarginalEntropy(x, classes: classes)
        }
        let value = try backend.categoricalEntropy(z1, joint ? z2 : nil, gradient1: g1, gradient2: joint ? g2 : nil)
        #expect(abs(value - reference(a, b)) <= 1e-5 * max(1, abs(reference(a, b))), "\(value) vs \(reference(a, b)) on \(name)")
        expectClose(try backend.download(g1), finiteDifferenceGradient(a) { reference($0, b) }, tolerance: Tolerance.gradient,
                    "∂Ĥ/∂z1 joint \(joint) on \(name)")
        if joint {
            expectClose(try backend.download(g2), finiteDifferenceGradient(b) { reference(a, $0) }, tolerance: Tolerance.gradient,
                        "∂Ĥ/∂z2 on \(name)")
        }
        #expect(throws: LDMError.self) { _ = try backend.categoricalEntropy(z1, z2, gradient1: g1, gradient2: nil) }
    }

    /// The categorical model with the plug-in entropy, joint (LDM) and marginal (MI), on softmax rows, every backend.
    @Test(arguments: TestBackends.all, [true, false])
    func categoricalPlugInMatchesTheReference(_ name: String, _ joint: Bool) throws {
        let backend = try TestBackends.named(name)
        let (rows, classes, p) = (8, 4, 0.9)
        var generator = SeededGenerator(seed: joint ? 90 : 91)
        func softmax(_ logits: [Float]) -> [Float] {
            (0..<rows).flatMap { i -> [Float] in
                let row = logits[(i * classes)..<((i + 1) * classes)].map { exp($0) }
                let total = row.reduce(0, +)
                return row.map { $0 / total }
            }
        }
        let host1 = softmax(generator.floats(rows * classes)), host2 = softmax(generator.floats(rows * classes))
        let objective = LDMObjective(latent: .categorical(matchProbability: Float(p)), entropy: .plugIn,
                                     variant: joint ? .ldm : .mi())
        let inverseTau = log(Double(classes - 1) * p / (1 - p))
        let reference = { (z1: [Double], z2: [Double]) -> Double in
            let alignment = inverseTau * zip(z1, z2).reduce(0) { $0 + $1.0 * $1.1 } / Double(rows)
            let entropy = joint ? Reference.categoricalJointEntropy(z1, z2, classes: classes)
                : Reference.categoricalMarginalEntropy(z1, classes: classes) + Reference.categoricalMarginalEntropy(z2, classes: classes)
            return -(alignment + entropy)
        }
        let z1 = try backend.upload(host1, shape: [rows, classes]), z2 = try backend.upload(host2, shape: [rows, classes])
        let result = try objective.evaluate(z1, z2, on: backend)
        let a = host1.map(Double.init), b = host2.map(Double.init)
        #expect(abs(result.value.loss - reference(a, b)) <= 1e-5 * max(1, abs(reference(a, b))))
        expectClose(try backend.download(result.dz1), finiteDifferenceGradient(a) { reference($0, b) },
                    tolerance: Tolerance.gradient, "∂loss/∂z1 categorical joint \(joint)")
        expectClose(try backend.download(result.dz2), finiteDifferenceGradient(b) { reference(a, $0) },
                    tolerance: Tolerance.gradient, "∂loss/∂z2 categorical joint \(joint)")
        // Not softmax rows: refused with the reason.
        let raw = try backend.upload(generator.floats(rows * classes), shape: [rows, classes])
        let error = #expect(throws: LDMError.self) { _ = try objective.evaluate(raw, raw, on: backend) }
        #expect(error?.description.contains("expected softmax outputs") == true)
    }
}
