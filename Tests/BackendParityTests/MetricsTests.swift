import Foundation
import LDMEngine
import LDMReference
import LDMMetrics
import LDMTraining
import Testing

/// docs/mathematics.md §7's comparison metrics: the Hungarian matching against brute force, and MCC, linear CKA and clustering
/// accuracy on cases with known answers.
@Suite("Identifiability metrics")
struct MetricsTests {
    /// A target column that is constant on the test rows has no R²: null per dimension with a note, and the mean
    /// over the others (it used to be 1 − SS_res/1e-300 ≈ −5e271).
    @Test func rSquaredOfAConstantTargetIsUndefined() throws {
        let rows = 50
        let features = (0..<rows).map { Float($0) / 10 }
        let targets: [Float] = (0..<rows).flatMap { (r: Int) -> [Float] in [2 * Float(r) / 10 + 1, 3] }   // column 1 is constant
        let probe = try Metrics.ridgeProbe(train: (features, targets), test: (features, targets), outputs: 2)
        #expect(probe.r2[0] > 0.99 && probe.r2[1].isNaN)
        #expect(probe.r2PerDimension[1] == nil && probe.undefinedDimensions == [1] && probe.meanR2 == probe.r2[0])
        let summary = SummaryValue.probe(probe)
        #expect(summary["r2_per_dimension"] == .optionalNumbers([probe.r2[0], nil]))
        guard case .text(let note)? = summary["r2_note"] else { Issue.record("no r2_note"); return }
        #expect(note.contains("undefined (null) for target dimension(s) [1]"))
    }

    static func permutations(_ n: Int) -> [[Int]] {
        guard n > 1 else { return [[0]] }
        return permutations(n - 1).flatMap { p in (0...p.count).map { i in var q = p; q.insert(n - 1, at: i); return q } }
    }

    @Test func hungarianFindsTheCheapestAssignment() throws {
        var generator = SeededGenerator(seed: 31)
        for trial in 0..<20 {
            let n = 1 + trial % 6
            let cost = (0..<(n * n)).map { _ in (generator.uniform() * 10).rounded() }   // ties included
            let assignment = try Metrics.hungarian(cost: cost, rows: n, columns: n)
            #expect(Set(assignment).count == n)
            let best = Self.permutations(n).map { p in p.enumerated().reduce(0.0) { $0 + cost[$1.offset * n + $1.element] } }.min()!
            let got = assignment.enumerated().reduce(0.0) { $0 + cost[$1.offset * n + $1.element] }
            #expect(abs(got - best) < 1e-9, "trial \(trial): \(got) vs \(best)")
        }
        // Rectangular: 2 rows, 3 columns.
        #expect(try Metrics.hungarian(cost: [5, 1, 9, 1, 7, 8], rows: 2, columns: 3) == [1, 0])
        #expect(throws: LDMError.self) { try Metrics.hungarian(cost: [1, 2, 3], rows: 3, columns: 1) }
        #expect(throws: LDMError.self) { try Metrics.hungarian(cost: [.nan], rows: 1, columns: 1) }
    }

    @Test func mccIsOneForPermutedRescaledSourcesAndLowForNoise() throws {
        var generator = SeededGenerator(seed: 32)
        let rows = 2000
        let truth = generator.floats(rows * 3)
        // estimate: columns (−2·s₂, s₀ + tiny, 0.5·s₁).
        var estimate = [Float](repeating: 0, count: rows * 3)
        for r in 0..<rows {
            let wobble: Float = 1e-4 * Float(r % 7)
            estimate[r * 3] = -2 * truth[r * 3 + 2]
            estimate[r * 3 + 1] = truth[r * 3] + wobble
            estimate[r * 3 + 2] = 0.5 * truth[r * 3 + 1]
        }
        let (value, matching) = try Metrics.meanCorrelationCoefficient(estimate: estimate, truth: truth, rows: rows)
        #expect(value > 0.9999 && matching == [1, 2, 0], "\(value) \(matching)")
        let noise = generator.floats(rows * 3)
        let low = try Metrics.meanCorrelationCoefficient(estimate: noise, truth: truth, rows: rows).value
        #expect(low < 0.1, "independent noise: \(low)")
        #expect(throws: LDMError.self) { try Metrics.meanCorrelationCoefficient(estimate: [1, 2], truth: [1, 2, 3, 4], rows: 2) }
    }

    @Test func linearCKAIsInvariantToRotationAndScale() throws {
        var generator = SeededGenerator(seed: 33)
        let rows = 500
        let x = generator.floats(rows * 2)
        let (c, s) = (Float(cos(0.7)), Float(sin(0.7)))
        var rotated = [Float](repeating: 0, count: rows * 2)
        for r in 0..<rows {
            let (u, v) = (x[r * 2], x[r * 2 + 1])
            rotated[r * 2] = 3 * (c * u - s * v) + 5
            rotated[r * 2 + 1] = 3 * (s * u + c * v) - 1
        }
        #expect(abs(try Metrics.linearCKA(x, rotated, rows: rows) - 1) < 1e-9)
        let independent = try Metrics.linearCKA(x, generator.floats(rows * 2), rows: rows)
        #expect(independent < 0.05, "\(independent)")
        // Against a hand computation: x = [1, 2, 3] and y = [1, 0, 2] centred give (xᵀy)² / (xᵀx·yᵀy) = 0.25 / 1.
        #expect(abs(try Metrics.linearCKA([1, 2, 3], [1, 0, 2], rows: 3) - 0.25) < 1e-12)
        #expect(throws: LDMError.self) { try Metrics.linearCKA([1, 1, 1], [1, 2, 3], rows: 3) }
    }

    @Test func clusteringAccuracyMatchesClustersToLabels() throws {
        #expect(try Metrics.clusteringAccuracy(clusters: [2, 2, 0, 0, 1, 1], labels: [0, 0, 1, 1, 2, 2]) == 1)
        // Clusters 0 → label 0 (3 of 4), cluster 1 → label 1 (2 of 2): 5 of 6.
        #expect(abs(try Metrics.clusteringAccuracy(clusters: [0, 0, 0, 0, 1, 1], labels: [0, 0, 0, 1, 1, 1]) - 5.0 / 6) < 1e-12)
        // More clusters than labels: the extra cluster matches nothing.
        #expect(abs(try Metrics.clusteringAccuracy(clusters: [0, 1, 2, 2], labels: [0, 0, 1, 1]) - 0.75) < 1e-12)
        #expect(throws: LDMError.self) { try Metrics.clusteringAccuracy(clusters: [0], labels: [0, 1]) }
    }
}
