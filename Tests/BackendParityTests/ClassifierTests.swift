import Foundation
import LDMEngine
@testable import LDMMetrics
import LDMReference
import Testing

/// The image evaluations: the weighted kNN classifier against a brute-force Double version on every backend, and the
/// softmax probe on separable and on uninformative data.
@Suite("Classifiers")
struct ClassifierTests {
    /// Brute force: cosine similarities in Double, the k largest by sorting, exp(s/τ) votes.
    static func knnReference(_ train: [Float], _ trainLabels: [Int], _ test: [Float], _ testLabels: [Int], d: Int, k: Int,
                             temperature: Double) -> Double {
        let normalised = { (x: [Float]) -> [[Double]] in
            stride(from: 0, to: x.count, by: d).map { start in
                let row = x[start..<(start + d)].map(Double.init), norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
                return row.map { $0 / max(norm, 1e-12) }
            }
        }
        let (bank, queries) = (normalised(train), normalised(test))
        var correct = 0
        for (q, label) in zip(queries, testLabels) {
            let similarities = bank.map { zip($0, q).reduce(0) { $0 + $1.0 * $1.1 } }
            let nearest = similarities.indices.sorted { similarities[$0] > similarities[$1] }.prefix(k)
            var score = [Double](repeating: 0, count: (trainLabels.max() ?? 0) + 1)
            for j in nearest { score[trainLabels[j]] += exp(similarities[j] / temperature) }
            if score.indices.max(by: { score[$0] < score[$1] }) == label { correct += 1 }
        }
        return Double(correct) / Double(testLabels.count)
    }

    @Test(arguments: TestBackends.all)
    func knnClassifierMatchesBruteForce(_ name: String) throws {
        let backend = try TestBackends.named(name)
        var generator = SeededGenerator(seed: 0x6e6e)
        let (n, m, d, classes) = (600, 257, 8, 5)
        // Class means on a circle of radius 1.5 plus unit noise: overlapping classes, so k and the weights matter.
        var means = [[Double]](repeating: [Double](repeating: 0, count: d), count: classes)
        for c in 0..<classes { (means[c][0], means[c][1]) = (1.5 * cos(Double(c)), 1.5 * sin(Double(c))) }
        let sample = { (count: Int, generator: inout SeededGenerator) -> ([Float], [Int]) in
            let labels = (0..<count).map { _ in Int(generator.uniform() * Double(classes)) }
            return (labels.flatMap { c in means[c].map { Float($0 + generator.normal()) } }, labels)
        }
        let (train, trainLabels) = sample(n, &generator), (test, testLabels) = sample(m, &generator)
        let cases: [(k: Int, temperature: Double)] = [(1, 0.1), (20, 0.1), (200, 0.5)]
        for (k, temperature) in cases {
            let got = try Metrics.knnClassifierAccuracy(train: try backend.upload(train, shape: [n, d]), trainLabels: trainLabels,
                                                        test: try backend.upload(test, shape: [m, d]), testLabels: testLabels,
                                                        k: k, temperature: temperature, on: backend)
            let expected = Self.knnReference(train, trainLabels, test, testLabels, d: d, k: k, temperature: temperature)
            #expect(abs(got - expected) <= 1.0 / Double(m) + 1e-12, "k \(k), τ \(temperature) on \(name): \(got) vs \(expected)")
            #expect(got > 0.3, "better than chance (0.2)")
        }
    }

    @Test func topKIsTheLargestValues() {
        var generator = SeededGenerator(seed: 5)
        let values = (0..<1000).map { _ in Float(generator.normal()) } + [.nan, .infinity * 0]
        for k in [1, 7, 200, 1000] {
            let got = values.withUnsafeBufferPointer { Metrics.topK($0, k) }.sorted()
            let expected = values.indices.filter { values[$0].isFinite }.sorted { values[$0] > values[$1] }.prefix(k).sorted()
            #expect(got == Array(expected), "k \(k)")
        }
    }

    @Test func softmaxProbeSeparatesSeparableClassesAndNotNoise() throws {
        var generator = SeededGenerator(seed: 0x50f7)
        let (n, m, d) = (900, 300, 6)
        let blobs = { (count: Int, informative: Bool, generator: inout SeededGenerator) -> ([Float], [Int]) in
            let labels = (0..<count).map { $0 % 3 }
            return (labels.flatMap { c in (0..<d).map { j in Float((informative && j == c ? 6.0 : 0) + generator.normal()) } }, labels)
        }
        let (x, y) = blobs(n, true, &generator), (tx, ty) = blobs(m, true, &generator)
        let separable = try Metrics.softmaxProbe(train: x, trainLabels: y, test: tx, testLabels: ty, dimension: d)
        #expect(separable.testAccuracy > 0.98 && separable.trainAccuracy > 0.98, "\(separable)")
        #expect(separable.loss.isFinite && separable.loss < 0.1)
        let (nx, ny) = blobs(n, false, &generator), (ntx, nty) = blobs(m, false, &generator)
        let noise = try Metrics.softmaxProbe(train: nx, trainLabels: ny, test: ntx, testLabels: nty, dimension: d)
        #expect(noise.testAccuracy < 0.45, "chance is 1/3: \(noise)")
        #expect(throws: LDMError.self) {
            _ = try Metrics.softmaxProbe(train: x, trainLabels: y, test: tx, testLabels: ty, dimension: d + 1)
        }
    }
}
