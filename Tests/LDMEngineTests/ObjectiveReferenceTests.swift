import Foundation
import LDMReference
import Testing

/// The Double references of docs/mathematics.md §2–§3 on inputs whose answers are known in closed form.
@Suite("Objective references")
struct ObjectiveReferenceTests {
    func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-12) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance * max(1, abs(b))
    }

    @Test func logSumExpStaysFiniteAtHighPrecision() {
        // κ = 200 (τ = 0.005): a raw exp(200) overflows float and nearly Double's comfort zone.
        #expect(close(Reference.logSumExp([200, 198]), 200 + log(1 + exp(-2))))
        #expect(close(Reference.logSumExp([-1000, -1000]), -1000 + log(2)))
        #expect(Reference.logSumExp([]) == -.infinity)
    }

    @Test func alignmentTerms() {
        #expect(close(Reference.sphereAlignment([3, 4], [6, 8], d: 2, precision: 5), 5))
        #expect(close(Reference.sphereAlignment([1, 0, 0, 1], [0, 1, 0, 1], d: 2, precision: 2), 1))
        #expect(close(Reference.planeAlignment([0, 0], [1, 1], d: 2, precision: 5), -5))
    }

    @Test func kdeEntropyOfTwoPoints() {
        let orthogonal: [Double] = [2, 0, 0, 3]   // normalised: e1, e2
        let kappa = 5.0
        #expect(close(Reference.kdeEntropy(orthogonal, d: 2, kernel: .vonMisesFisher, precision: kappa),
                      -log(exp(kappa) + 1)))
        #expect(close(Reference.kdeEntropy(orthogonal, d: 2, kernel: .vonMisesFisher, precision: kappa,
                                           leaveOneOut: true), 0))
        #expect(close(Reference.kdeEntropy([0, 1], d: 1, kernel: .gaussian, precision: 1), -log(1 + exp(-1))))
    }

    @Test func ntXentOfOrthogonalPairs() {
        // Both views equal (e1, e2), τ = 1: each row's logits over the others are (0, 1, 0), partner 1.
        let views: [Double] = [1, 0, 0, 1]
        #expect(close(Reference.ntXentLoss(views, views, d: 2, temperature: 1), log(2 + exp(1)) - 1))
        #expect(close(Reference.ntXentLoss([1, 0], [0, 1], d: 2, temperature: 0.5), 0), "B = 1: only the partner")
    }

    @Test func knnEntropyClipsAtTheQuantile() {
        let points: [Double] = [0, 1, 3, 6, 10]
        #expect(Reference.knnDistances(points, d: 1, k: 1) == [1, 1, 2, 3, 4])
        #expect(close(Reference.quantile([1, 1, 2, 3, 4], 0.9), 3.6))
        let expected = [1, 1, 2, 3, 3.6].reduce(0) { $0 + log($1 + 1e-8) } / 5
        #expect(close(Reference.knnEntropy(points, d: 1, k: 1), expected))
        #expect(close(Reference.knnEntropy(points, d: 1, k: 1, scale: 3), 3 * expected))
    }

    @Test func gaussianEstimatorsOfAKnownCovariance() {
        // Rows (±a, 0), (0, ±b): mean 0, covariance diag(2a²/3, 2b²/3) with the B − 1 divisor.
        let a = 3.0, b = 0.5
        let z: [Double] = [a, 0, -a, 0, 0, b, 0, -b]
        let va = 2 * a * a / 3, vb = 2 * b * b / 3
        #expect(close(Reference.gaussianLogDetEntropy(z, d: 2, epsilon: 0), 0.5 * log(va * vb)))
        #expect(close(Reference.taylorLogDet(z, d: 2), (log(va) + log(vb)) / 2))
        let terms = Reference.vicregTerms(z, d: 2)
        #expect(close(terms.variance, max(0, 1 - (vb + 1e-4).squareRoot()) / 2))
        #expect(terms.covariance == 0)
        #expect(Reference.gaussianLogDetEntropy([1, 1, 2, 2, 3, 3], d: 2, epsilon: 0) == nil, "singular")
    }

    @Test func categoricalPlugIn() {
        let oneHot: [Double] = [1, 0, 0, 1]
        #expect(close(Reference.categoricalJointEntropy(oneHot, oneHot, classes: 2), log(2)))
        #expect(close(Reference.categoricalJointEntropy(oneHot, [0, 1, 1, 0], classes: 2), log(2)))
        #expect(close(Reference.categoricalMarginalEntropy([0.5, 0.5, 0.5, 0.5], classes: 2), log(2)))
        #expect(close(Reference.categoricalMarginalEntropy(oneHot + oneHot, classes: 2), log(2)))
    }
}
