import Foundation
import LDMData
import LDMEngine
import LDMMetrics

/// Training and test rows of the two-view task, host-side: views, latents when known, labels when known.
struct TwoViewSplit {
    var train1: [Float], train2: [Float], trainLatents: [Float]?
    var test1: [Float], test2: [Float], testLatents: [Float]?
    /// Synthetic data only: the oracle representations of view 1 (``TwoViewData/Sample/oracle1``).
    var trainOracle: [Float]?, testOracle: [Float]?
    /// The test rows' classes, when known (the clusters latent, or labels with the user's arrays).
    var testLabels: [Int]?
    var dimension: Int, latentDimension: Int, trainCount: Int, testCount: Int

    /// The user's arrays, the last `testCount` rows held out.
    init(_ a: TwoViewArrays, testCount: Int) {
        let n = a.count - testCount, d = a.dimension, k = a.latentDimension
        (train1, train2, trainLatents) = (Array(a.view1[0..<(n * d)]), Array(a.view2[0..<(n * d)]), a.latents.map { Array($0[0..<(n * k)]) })
        (test1, test2, testLatents) = (Array(a.view1[(n * d)...]), Array(a.view2[(n * d)...]), a.latents.map { Array($0[(n * k)...]) })
        testLabels = a.labels.map { Array($0[n...]) }
        (dimension, latentDimension, trainCount, self.testCount) = (d, k, n, testCount)
    }

    /// Synthetic rows: training from seed·2 + 1, test from seed·2 + 2.
    init(_ data: TwoViewData, trainCount: Int, testCount: Int, seed: UInt64) {
        let train = data.generate(count: trainCount, seed: seed &* 2 &+ 1), test = data.generate(count: testCount, seed: seed &* 2 &+ 2)
        (train1, train2, trainLatents, trainOracle) = (train.view1, train.view2, train.latents, train.oracle1)
        (test1, test2, testLatents, testOracle, testLabels) = (test.view1, test.view2, test.latents, test.oracle1, test.labels)
        (dimension, latentDimension, self.trainCount, self.testCount) = (data.dimension, data.dimension, trainCount, testCount)
    }

    /// The probe on g⁻¹(x₁) = s + ε₁: the ceiling any encoder's R² can reach on the synthetic data.
    func oracleProbe(probeCount: Int) throws -> Metrics.Probe? {
        guard let trainOracle, let testOracle, let trainLatents, let testLatents else { return nil }
        let rows = min(probeCount, trainCount), k = latentDimension
        return try Metrics.ridgeProbe(train: (Array(trainOracle[0..<(rows * k)]), Array(trainLatents[0..<(rows * k)])),
                                      test: (testOracle, testLatents), outputs: k)
    }
}

/// The rows every evaluation encodes, uploaded once per run: both test views and the probe's training rows.
struct TwoViewEvaluationRows {
    var test1: Tensor, test2: Tensor
    /// The first `probeRows` training rows of view 1 (only with true latents).
    var probe: Tensor?
    var probeRows: Int

    init(_ data: TwoViewSplit, probeCount: Int, on backend: any Backend) throws {
        let d = data.dimension
        probeRows = min(probeCount, data.trainCount)
        test1 = try backend.upload(data.test1, shape: [data.testCount, d])
        test2 = try backend.upload(data.test2, shape: [data.testCount, d])
        probe = data.trainLatents == nil ? nil : try backend.upload(Array(data.train1[0..<(probeRows * d)]), shape: [probeRows, d])
    }
}

/// One evaluation of the two-view encoder on the held-out rows.
struct TwoViewEvaluation {
    var retrieval: Double
    var probe: Metrics.Probe?
    var mcc: Double?
    var clusteringAccuracy: Double?
    /// f(view 1) of the test rows [testCount, out].
    var representation: [Float]

    /// Encodes the rows with `represent` (the encoder in evaluation mode, through its head) and scores them.
    init(_ data: TwoViewSplit, _ rows: TwoViewEvaluationRows, clustering: Bool, represent: (Tensor) throws -> [Float]) throws {
        let test1 = try represent(rows.test1), test2 = try represent(rows.test2), n = data.testCount
        let out = test1.count / n
        retrieval = Metrics.retrievalAccuracy(test1, test2, rows: n)
        representation = test1
        if clustering, let labels = data.testLabels {
            // Each test row's cluster is its most probable class.
            let clusters = (0..<n).map { i in (0..<out).max { test1[i * out + $0] < test1[i * out + $1] } ?? 0 }
            clusteringAccuracy = try Metrics.clusteringAccuracy(clusters: clusters, labels: labels)
        }
        if let trainLatents = data.trainLatents, let testLatents = data.testLatents, let probeRows = rows.probe {
            let k = data.latentDimension
            probe = try Metrics.ridgeProbe(train: (try represent(probeRows), Array(trainLatents[0..<(rows.probeRows * k)])),
                                           test: (test1, testLatents), outputs: k)
            if out >= k && !clustering {
                mcc = try Metrics.meanCorrelationCoefficient(estimate: test1, truth: testLatents, rows: n).value
            }
        }
    }

    /// The metrics by name: metrics.jsonl's epoch lines and summary.json.
    var metrics: [String: Double] {
        var metrics = ["retrieval_top1": retrieval]
        if let probe { metrics["r2"] = probe.meanR2 }
        if let mcc { metrics["mcc"] = mcc }
        if let clusteringAccuracy { metrics["clustering_accuracy"] = clusteringAccuracy }
        return metrics
    }

    func facts(testCount: Int, oracle: SummaryValue?) -> String {
        var facts = String(format: "Retrieval top-1 (view 2 from view 1 among %d test rows) %.4f", testCount, retrieval)
        if let clusteringAccuracy { facts += String(format: "; clustering accuracy %.4f", clusteringAccuracy) }
        if let mcc { facts += String(format: "; MCC %.4f", mcc) }
        if case .number(let r2)? = oracle { facts += String(format: "; the oracle g⁻¹(x₁) = s + ε₁ reaches R² %.4f", r2) }
        return facts + "."
    }

    func plots(_ data: TwoViewSplit) -> [ReportPlot] {
        var plots = [ReportPlot.metrics(title: "held-out probe R² (black) and retrieval top-1 (red) by epoch",
                                        series: [("R²", "epoch", "r2"), ("top-1", "epoch", "retrieval_top1")])]
        if let decoded = probe?.decoded, let truth = data.testLatents {
            let k = data.latentDimension, shown = min(200, data.testCount)
            let pairs = (0..<shown).map { (Double(truth[$0 * k]), Double(decoded[$0 * k])) }.sorted { $0.0 < $1.0 }
            plots.append(.points(title: "latent 0 of \(shown) test rows: true (black) and decoded (red) against the true value",
                                 series: [("true", pairs.map { ($0.0, $0.0) }), ("decoded", pairs)]))
        }
        return plots
    }
}
