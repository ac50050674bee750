import Foundation
import LDMEngine
import LDMReference
import Testing

/// The tolerances of the parity and gradient tests (docs/mathematics.md §9).
enum Tolerance {
    /// Relative L2 error of a float32 kernel against its Double reference.
    static let float32 = 1e-5
    /// Exactly rounded kernels (elementwise, transpose, max): only rounding the Double reference to float touches them.
    static let exact = 1e-7
    /// Analytic gradients against central finite differences in Double.
    static let gradient = 1e-4
}

/// A fresh path under the temporary directory (not created).
func temporaryDirectory(_ label: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("ldm-\(label)-\(UUID().uuidString)").path
}

/// Compares a float32 result with its Double reference by relative L2 error, and on failure reports the
/// largest absolute and relative errors and the first mismatching indices.
func expectClose(_ got: [Float], _ expected: [Double], tolerance: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    guard got.count == expected.count else {
        Issue.record("\(what): \(got.count) values, expected \(expected.count)", sourceLocation: sourceLocation)
        return
    }
    var difference = 0.0, norm = 0.0, maxAbs = 0.0, maxRel = 0.0
    var bad: [Int] = []
    for i in got.indices {
        let error = abs(Double(got[i]) - expected[i])
        if !got[i].isFinite && expected[i].isFinite { bad.append(i) }
        difference += error * error
        norm += expected[i] * expected[i]
        maxAbs = max(maxAbs, error)
        let relative = error / max(abs(expected[i]), 1e-30)
        maxRel = max(maxRel, relative)
        if relative > tolerance * 10 && error > tolerance * 10 * (norm / Double(i + 1)).squareRoot() && bad.count < 5 {
            bad.append(i)
        }
    }
    let relativeL2 = norm > 0 ? (difference / norm).squareRoot() : difference.squareRoot()
    let finite = !got.contains { !$0.isFinite } || expected.contains { !$0.isFinite }
    if !(relativeL2 <= tolerance) || !finite {
        let samples = bad.prefix(5).map { "[\($0)] got \(got[$0]) expected \(expected[$0])" }.joined(separator: "; ")
        Issue.record("""
            \(what): relative L2 error \(relativeL2) > \(tolerance); max abs error \(maxAbs), max rel error \(maxRel); \
            first mismatches: \(samples.isEmpty ? "none over 10× tolerance" : samples)
            """, sourceLocation: sourceLocation)
    }
}

/// Central finite differences of `f` at `x` in Double, one coordinate at a time (``Reference/centralDifferences``).
func finiteDifferenceGradient(_ x: [Double], step: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
    Reference.centralDifferences(x, step: step, f)
}

/// Checks analytic gradients against central differences along one random unit direction per tensor: for each
/// (label, tensor, gradient), moves the tensor by ±ε along the direction on the backend, re-evaluates
/// `functional`, and expects the difference quotient to match ⟨gradient, direction⟩ within
/// `tolerance`·max(1, |slope|). Restores every tensor afterwards.
func expectDirectionalDifferences(_ checks: [(String, Tensor, [Float])], on backend: any Backend, epsilon: Float,
                                  tolerance: Double, generator: inout SeededGenerator, _ functional: () throws -> Double,
                                  sourceLocation: SourceLocation = #_sourceLocation) throws {
    for (label, tensor, gradient) in checks {
        let raw = generator.floats(tensor.count), length = raw.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let value = try backend.download(tensor), direction = raw.map { $0 / length }
        let slope = zip(gradient, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        try backend.write(zip(value, direction).map { $0 + epsilon * $1 }, to: tensor)
        let plus = try functional()
        try backend.write(zip(value, direction).map { $0 - epsilon * $1 }, to: tensor)
        let minus = try functional()
        try backend.write(value, to: tensor)
        let difference = (plus - minus) / Double(2 * epsilon)
        #expect(abs(difference - slope) <= tolerance * max(1, abs(slope)), "\(label): \(difference) vs \(slope)",
                sourceLocation: sourceLocation)
    }
}
