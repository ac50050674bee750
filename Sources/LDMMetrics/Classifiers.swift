import CBLAS
import Dispatch
import Foundation
import LDMEngine

/// The image evaluations on frozen representations: the weighted kNN classifier and the linear (softmax) probe.
extension Metrics {
    /// Top-1 accuracy of the weighted kNN classifier of InstDisc (Wu et al. 2018) as solo-learn reports it: features
    /// L2-normalised, each test row's `k` most cosine-similar training rows vote for their class with weight
    /// exp(similarity / τ), the heaviest class wins. The similarities are products on `backend` (chunks of test rows
    /// against the whole training bank); the top-k selection runs on the host.
    public static func knnClassifierAccuracy(train: Tensor, trainLabels: [Int], test: Tensor, testLabels: [Int],
                                             k: Int = 200, temperature: Double = 0.1, on backend: any Backend) throws -> Double {
        guard train.shape.rank == 2, test.shape.rank == 2, train.shape.dims[1] == test.shape.dims[1],
              train.shape.dims[0] == trainLabels.count, test.shape.dims[0] == testLabels.count, !testLabels.isEmpty else {
            throw LDMError.shapeMismatch(operation: "knnClassifierAccuracy",
                                         detail: "train \(train.shape) with \(trainLabels.count) labels, test \(test.shape) with \(testLabels.count)")
        }
        guard k >= 1, temperature.isFinite, temperature > 0 else {
            throw LDMError.invalidArgument("knnClassifierAccuracy: need k ≥ 1 and τ > 0, got \(k), \(temperature)")
        }
        let (n, m, d) = (train.shape.dims[0], test.shape.dims[0], train.shape.dims[1])
        let classes = (trainLabels.max() ?? 0) + 1, neighbours = min(k, n)
        let bank = try backend.makeTensor([n, d]), queries = try backend.makeTensor([m, d])
        try backend.normalizeRows(train, into: bank, norms: try backend.makeTensor([n]), RowsShape(rows: n, columns: d))
        try backend.normalizeRows(test, into: queries, norms: try backend.makeTensor([m]), RowsShape(rows: m, columns: d))
        let chunk = max(1, min(m, (1 << 25) / max(n, 1)))
        let similarities = try backend.makeTensor([chunk * n])
        var correct = 0
        var start = 0
        while start < m {
            let rows = min(chunk, m - start)
            let block = try backend.makeTensor([rows, d])
            try backend.copy(queries, offset: start * d, to: block, offset: 0, count: rows * d)
            try backend.matmul(block, bank, into: similarities, MatmulShape(m: rows, n: n, k: d, transposeB: true))
            var values = [Float](repeating: 0, count: chunk * n)
            try values.withUnsafeMutableBufferPointer { try backend.read(similarities, into: $0) }
            let first = start
            let hits = values.withUnsafeBufferPointer { buffer -> Int in
                nonisolated(unsafe) let pointer = buffer
                nonisolated(unsafe) var votes = [Bool](repeating: false, count: rows)
                votes.withUnsafeMutableBufferPointer { won in
                    nonisolated(unsafe) let won = won
                    DispatchQueue.concurrentPerform(iterations: rows) { r in
                        let row = UnsafeBufferPointer(rebasing: pointer[(r * n)..<((r + 1) * n)])
                        let best = topK(row, neighbours)
                        var score = [Double](repeating: 0, count: classes)
                        for j in best { score[trainLabels[j]] += Foundation.exp(Double(row[j]) / temperature) }
                        let predicted = score.indices.max { score[$0] < score[$1] } ?? 0
                        won[r] = predicted == testLabels[first + r]
                    }
                }
                return votes.filter { $0 }.count
            }
            correct += hits
            start += rows
        }
        return Double(correct) / Double(m)
    }

    /// Indices of the `k` largest values (ties to the lower index), by a bounded min-heap.
    static func topK(_ values: UnsafeBufferPointer<Float>, _ k: Int) -> [Int] {
        var heap: [(value: Float, index: Int)] = []
        heap.reserveCapacity(k)
        func less(_ a: (value: Float, index: Int), _ b: (value: Float, index: Int)) -> Bool {
            a.value < b.value || (a.value == b.value && a.index > b.index)
        }
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let (l, r) = (2 * i + 1, 2 * i + 2)
                var smallest = i
                if l < heap.count && less(heap[l], heap[smallest]) { smallest = l }
                if r < heap.count && less(heap[r], heap[smallest]) { smallest = r }
                if smallest == i { return }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
        for (index, value) in values.enumerated() where value.isFinite {
            if heap.count < k {
                heap.append((value, index))
                var i = heap.count - 1
                while i > 0 && less(heap[i], heap[(i - 1) / 2]) { heap.swapAt(i, (i - 1) / 2); i = (i - 1) / 2 }
            } else if less(heap[0], (value, index)) {
                heap[0] = (value, index)
                siftDown(0)
            }
        }
        return heap.map(\.index)
    }

    /// The result of ``softmaxProbe(train:trainLabels:test:testLabels:dimension:lambda:iterations:)``.
    public struct SoftmaxProbe: Sendable {
        public var trainAccuracy: Double, testAccuracy: Double
        public var iterations: Int
        /// The final training objective (mean cross-entropy + λ/2·‖W‖²).
        public var loss: Double
    }

    /// The linear probe: multinomial logistic regression on standardised features (each dimension centred and scaled
    /// by the training rows' mean and standard deviation), fitted on the training rows by L-BFGS (10 pairs, Armijo
    /// backtracking) on mean cross-entropy + λ/2·‖W‖² (the intercepts unpenalised), scored top-1 on the test rows.
    /// Products through OpenBLAS in float32; the objective and the L-BFGS vectors in Double.
    public static func softmaxProbe(train: [Float], trainLabels: [Int], test: [Float], testLabels: [Int], dimension d: Int,
                                    lambda: Double = 1e-4, iterations maximum: Int = 300) throws -> SoftmaxProbe {
        let n = trainLabels.count, m = testLabels.count
        guard d >= 1, n >= 2, m >= 1, train.count == n * d, test.count == m * d else {
            throw LDMError.shapeMismatch(operation: "softmaxProbe", detail: "\(train.count) training values for \(n) rows of \(d), \(test.count) test values for \(m)")
        }
        guard lambda.isFinite, lambda >= 0, maximum >= 1 else { throw LDMError.invalidArgument("softmaxProbe: need λ ≥ 0 and at least one iteration") }
        let classes = max(trainLabels.max() ?? 0, testLabels.max() ?? 0) + 1
        // Standardise with the training rows' statistics.
        var mean = [Double](repeating: 0, count: d), spread = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += Double(train[r * d + j]) } }
        for j in 0..<d { mean[j] /= Double(n) }
        for r in 0..<n { for j in 0..<d { let c = Double(train[r * d + j]) - mean[j]; spread[j] += c * c } }
        let scale = spread.map { s -> Float in let sd = (s / Double(n)).squareRoot(); return sd > 1e-6 ? Float(1 / sd) : 0 }
        let standardise = { (x: [Float], rows: Int) -> [Float] in
            var out = x
            for r in 0..<rows { for j in 0..<d { out[r * d + j] = (x[r * d + j] - Float(mean[j])) * scale[j] } }
            return out
        }
        let xs = standardise(train, n), ts = standardise(test, m)
        let p = (d + 1) * classes   // W [d, K] then b [K]
        var logits = [Float](repeating: 0, count: n * classes), residual = [Float](repeating: 0, count: n * classes)
        var gradientW = [Float](repeating: 0, count: d * classes)

        // Mean cross-entropy + λ/2‖W‖² and its gradient at θ.
        func evaluate(_ theta: [Double]) -> (Double, [Double]) {
            let w = theta[0..<(d * classes)].map { Float($0) }, b = theta[(d * classes)...].map { $0 }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(classes), Int32(d), 1, xs, Int32(d), w,
                        Int32(classes), 0, &logits, Int32(classes))
            var loss = 0.0
            var gradientB = [Double](repeating: 0, count: classes)
            for r in 0..<n {
                var top = -Double.infinity
                for c in 0..<classes { top = max(top, Double(logits[r * classes + c]) + b[c]) }
                var total = 0.0
                for c in 0..<classes { total += Foundation.exp(Double(logits[r * classes + c]) + b[c] - top) }
                let logTotal = Foundation.log(total) + top
                loss += logTotal - (Double(logits[r * classes + trainLabels[r]]) + b[trainLabels[r]])
                for c in 0..<classes {
                    let probability = Foundation.exp(Double(logits[r * classes + c]) + b[c] - logTotal)
                    let g = (probability - (c == trainLabels[r] ? 1 : 0)) / Double(n)
                    residual[r * classes + c] = Float(g)
                    gradientB[c] += g
                }
            }
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(d), Int32(classes), Int32(n), 1, xs, Int32(d), residual,
                        Int32(classes), 0, &gradientW, Int32(classes))
            var gradient = [Double](repeating: 0, count: p)
            var penalty = 0.0
            for i in 0..<(d * classes) {
                penalty += theta[i] * theta[i]
                gradient[i] = Double(gradientW[i]) + lambda * theta[i]
            }
            for c in 0..<classes { gradient[d * classes + c] = gradientB[c] }
            return (loss / Double(n) + 0.5 * lambda * penalty, gradient)
        }

        var theta = [Double](repeating: 0, count: p)
        var (loss, gradient) = evaluate(theta)
        var history: [(s: [Double], y: [Double], rho: Double)] = []
        var iteration = 0
        let dot = { (a: [Double], b: [Double]) in zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        while iteration < maximum {
            iteration += 1
            // Two-loop recursion: direction = −H·g.
            var q = gradient
            var alphas: [Double] = []
            for pair in history.reversed() {
                let a = pair.rho * dot(pair.s, q)
                alphas.append(a)
                for i in 0..<p { q[i] -= a * pair.y[i] }
            }
            if let last = history.last {
                let gamma = dot(last.s, last.y) / max(dot(last.y, last.y), 1e-300)
                for i in 0..<p { q[i] *= gamma }
            }
            for (pair, a) in zip(history, alphas.reversed()) {
                let beta = pair.rho * dot(pair.y, q)
                for i in 0..<p { q[i] += pair.s[i] * (a - beta) }
            }
            var direction = q.map { -$0 }
            var slope = dot(direction, gradient)
            if !(slope < 0) { direction = gradient.map { -$0 }; slope = -dot(gradient, gradient); history.removeAll() }
            var step = history.isEmpty ? 1 / max(dot(gradient, gradient).squareRoot(), 1e-12) : 1.0
            var accepted: (Double, [Double], [Double])?
            for _ in 0..<30 {
                let candidate = zip(theta, direction).map { $0 + step * $1 }
                let (value, g) = evaluate(candidate)
                if value.isFinite && value <= loss + 1e-4 * step * slope { accepted = (value, g, candidate); break }
                step *= 0.5
            }
            guard let (value, g, candidate) = accepted else { break }
            let s = zip(candidate, theta).map { $0 - $1 }, y = zip(g, gradient).map { $0 - $1 }
            let sy = dot(s, y)
            if sy > 1e-12 {
                history.append((s, y, 1 / sy))
                if history.count > 10 { history.removeFirst() }
            }
            let improvement = loss - value
            (theta, loss, gradient) = (candidate, value, g)
            if improvement < 1e-9 * max(1, abs(loss)) || dot(gradient, gradient).squareRoot() < 1e-6 { break }
        }
        let w = theta[0..<(d * classes)].map { Float($0) }, b = Array(theta[(d * classes)...])
        func accuracy(_ x: [Float], _ labels: [Int]) -> Double {
            let rows = labels.count
            var scores = [Float](repeating: 0, count: rows * classes)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(classes), Int32(d), 1, x, Int32(d), w,
                        Int32(classes), 0, &scores, Int32(classes))
            var right = 0
            for r in 0..<rows {
                let predicted = (0..<classes).max { Double(scores[r * classes + $0]) + b[$0] < Double(scores[r * classes + $1]) + b[$1] } ?? 0
                if predicted == labels[r] { right += 1 }
            }
            return Double(right) / Double(rows)
        }
        return SoftmaxProbe(trainAccuracy: accuracy(xs, trainLabels), testAccuracy: accuracy(ts, testLabels), iterations: iteration,
                            loss: loss)
    }
}

extension Metrics {
    /// The projections of rows `x [N, d]` onto their first `components` principal components ([N, components], row
    /// after row): the centred covariance in Double, its leading eigenvectors by power iteration with deflation.
    public static func principalComponents(_ x: [Float], dimension d: Int, components: Int) -> [Double] {
        let n = d > 0 ? x.count / d : 0
        guard n >= 1, components >= 1 else { return [] }
        var mean = [Double](repeating: 0, count: d)
        for r in 0..<n { for j in 0..<d { mean[j] += Double(x[r * d + j]) / Double(n) } }
        var covariance = [Double](repeating: 0, count: d * d)
        for r in 0..<n {
            let row = (0..<d).map { Double(x[r * d + $0]) - mean[$0] }
            for i in 0..<d where row[i] != 0 { for j in 0..<d { covariance[i * d + j] += row[i] * row[j] } }
        }
        var vectors: [[Double]] = []
        for component in 0..<components {
            var v = (0..<d).map { Double(($0 * 7919 + component * 104_729) % 1000) / 1000 - 0.5 }
            for _ in 0..<200 {
                var next = [Double](repeating: 0, count: d)
                for i in 0..<d { for j in 0..<d { next[i] += covariance[i * d + j] * v[j] } }
                for u in vectors {   // deflation: stay orthogonal to the components found
                    let overlap = zip(next, u).reduce(0) { $0 + $1.0 * $1.1 }
                    for i in 0..<d { next[i] -= overlap * u[i] }
                }
                let norm = next.reduce(0) { $0 + $1 * $1 }.squareRoot()
                guard norm > 1e-300 else { break }
                v = next.map { $0 / norm }
            }
            vectors.append(v)
        }
        var projected = [Double](repeating: 0, count: n * components)
        for r in 0..<n {
            for (c, u) in vectors.enumerated() {
                projected[r * components + c] = (0..<d).reduce(0) { $0 + (Double(x[r * d + $1]) - mean[$1]) * u[$1] }
            }
        }
        return projected
    }
}
