import ArgumentParser
import Foundation
import LDMEngine
import LDMMetrics

/// `ldm metrics`: docs/mathematics.md §7's comparisons of representations saved as .npy arrays.
struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Compare representations stored as .npy arrays (MCC, linear CKA, clustering accuracy).",
        subcommands: [MCC.self, CKA.self, ClusteringAccuracy.self])

    /// Two [N, ·] arrays with the same N (a rank-1 array is one column).
    static func readPair(_ first: String, _ second: String, names: (String, String)) throws -> ([Float], [Float], Int) {
        let (a, x) = try readFiniteArray(first, ranks: [1, 2], what: names.0)
        let (b, y) = try readFiniteArray(second, ranks: [1, 2], what: names.1)
        guard a.dims[0] == b.dims[0] else {
            throw LDMError.shapeMismatch(operation: "metrics", detail: "\(names.0) has \(a.dims[0]) rows but \(names.1) has \(b.dims[0])")
        }
        return (x, y, a.dims[0])
    }

    struct MCC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mcc",
            abstract: "Mean |Pearson correlation| between estimated and true sources after the best matching (Hungarian).")
        @Option(help: "Estimated sources [N, p] (.npy).") var estimate: String
        @Option(help: "True sources [N, q], q ≤ p (.npy).") var truth: String

        func run() throws {
            try reportingErrors {
                let (x, y, rows) = try MetricsCommand.readPair(estimate, truth, names: ("the estimate", "the truth"))
                let (value, matching) = try Metrics.meanCorrelationCoefficient(estimate: x, truth: y, rows: rows)
                try printJSON(["mcc": AnyCodableNumber.double(value), "matching": .ints(matching)])
            }
        }
    }

    struct CKA: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cka", abstract: "Linear CKA between two representations [N, p] and [N, q] of the same inputs.")
        @Option(help: "First representation (.npy).") var x: String
        @Option(help: "Second representation (.npy).") var y: String

        func run() throws {
            try reportingErrors {
                let (a, b, rows) = try MetricsCommand.readPair(x, y, names: ("x", "y"))
                try printJSON(["cka": AnyCodableNumber.double(try Metrics.linearCKA(a, b, rows: rows))])
            }
        }
    }

    struct ClusteringAccuracy: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clustering-accuracy",
            abstract: "Accuracy of cluster ids against labels under the best one-to-one matching (Hungarian).")
        @Option(help: "Cluster ids [N] (.npy, non-negative integers).") var clusters: String
        @Option(help: "Labels [N] (.npy, non-negative integers).") var labels: String

        func run() throws {
            try reportingErrors {
                let ids = try [(clusters, "the cluster ids"), (labels, "the labels")].map { try readWholeNumbers($0, what: $1) }
                try printJSON(["clustering_accuracy": AnyCodableNumber.double(try Metrics.clusteringAccuracy(clusters: ids[0], labels: ids[1]))])
            }
        }
    }
}

/// A JSON value of the metrics output: a number or a list of integers.
enum AnyCodableNumber: Encodable {
    case double(Double), ints([Int])

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .double(let value): try container.encode(value)
        case .ints(let values): try container.encode(values)
        }
    }
}
