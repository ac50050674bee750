import Foundation
import LDMEngine
import LDMMetrics

/// A value of summary.json beyond the common keys: a number, a list, a list of pairs, or text.
public enum SummaryValue: Sendable, Equatable, Encodable {
    case number(Double)
    case numbers([Double])
    case pairs([[Double]])
    /// Numbers some of which are undefined (JSON null), such as R² per dimension with a constant target.
    case optionalNumbers([Double?])
    case text(String)

    /// summary.json's keys for a probe: `r2` (mean over the defined dimensions), `r2_per_dimension` (null where
    /// the target is constant) and, when some are undefined, `r2_note` saying which and why.
    public static func probe(_ probe: Metrics.Probe) -> [String: SummaryValue] {
        var values: [String: SummaryValue] = ["r2": .number(probe.meanR2), "r2_per_dimension": .optionalNumbers(probe.r2PerDimension)]
        let undefined = probe.undefinedDimensions
        if !undefined.isEmpty {
            values["r2_note"] = .text("R² is undefined (null) for target dimension(s) \(undefined): the target is constant on "
                + "the test rows; r2 is the mean over the other \(probe.r2.count - undefined.count)")
        }
        return values
    }

    /// The entries that are not finite numbers (NaN, ±inf; nil entries of ``optionalNumbers(_:)`` are allowed).
    var nonFinite: Bool {
        switch self {
        case .number(let value): return !value.isFinite
        case .numbers(let values): return values.contains { !$0.isFinite }
        case .pairs(let values): return values.contains { $0.contains { !$0.isFinite } }
        case .optionalNumbers(let values): return values.contains { $0.map { !$0.isFinite } ?? false }
        case .text: return false
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .numbers(let values): try container.encode(values)
        case .pairs(let values): try container.encode(values)
        case .optionalNumbers(let values): try container.encode(values)
        case .text(let value): try container.encode(value)
        }
    }
}

/// What a finished run reports (summary.json): the keys every run has, and the task's named values (`r2`,
/// `r2_per_dimension`, `mcc`, `A_eigenvalues`, `rotation_per_step`, `retrieval_top1`, `clustering_accuracy`, …)
/// at the top level beside them.
public struct TrainingSummary: Sendable, Encodable {
    public var experiment: String
    public var objective: String
    public var epochs: Int
    public var seconds: Double
    public var backend: String
    public var seed: UInt64
    public var finalLoss: Double
    public var optimizer: String
    /// The task's values by summary.json key.
    public var values: [String: SummaryValue]

    /// A number among the task's values (nil when absent).
    public func number(_ key: String) -> Double? {
        if case .number(let value)? = values[key] { return value }
        return nil
    }

    /// A list of numbers among the task's values.
    public func numbers(_ key: String) -> [Double]? {
        if case .numbers(let values)? = values[key] { return values }
        return nil
    }

    public var r2: Double? { number("r2") }

    /// R² per dimension (nil where undefined), empty when the task has no probe.
    public var r2PerDimension: [Double?] {
        switch values["r2_per_dimension"] {
        case .optionalNumbers(let values)?: return values
        case .numbers(let values)?: return values
        default: return []
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        let common: [(String, any Encodable)] = [("experiment", experiment), ("objective", objective), ("epochs", epochs),
                                                 ("seconds", seconds), ("backend", backend), ("seed", seed),
                                                 ("final_loss", finalLoss), ("optimizer", optimizer)]
        for (key, value) in common + values.map({ ($0.key, $0.value as any Encodable) }) {
            try container.encode(value, forKey: Key(stringValue: key))
        }
    }

    /// Throws unless every number the summary reports is finite, naming the ones that are not: a run never
    /// reports NaN or infinity as a result.
    func checkFinite() throws {
        var bad = values.filter { $0.value.nonFinite }.map(\.key).sorted()
        if !finalLoss.isFinite && epochs > 0 { bad.insert("final_loss", at: 0) }
        if !seconds.isFinite { bad.insert("seconds", at: 0) }
        guard bad.isEmpty else {
            let note = values["r2_note"].flatMap { if case .text(let t) = $0 { return " (\(t))" } else { return nil } } ?? ""
            throw LDMError.invalidArgument("the run's \(bad.joined(separator: ", ")) came out non-finite\(note); "
                + "summary.json and report.html were not written (the checkpoint is kept)")
        }
    }

    /// summary.json's bytes (pretty, sorted keys).
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}

/// One progress report (after each logged step and each evaluation).
public struct TrainingProgress: Sendable {
    public var epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int
    public var loss: Double
    /// The task's headline metric by name and its last value (nil before the first evaluation).
    public var metricName: String
    public var metric: Double?
    public var stepsPerSecond: Double
    /// The processes of a data-parallel run and the rows of each global batch each one computes.
    public var ranks = 1, rowsPerRank: Int
}

/// Thrown when a stop was requested (Ctrl-C, SIGTERM, or ``TrainingLoop/shouldStop``) after the current step; the
/// checkpoint holds `completedEpochs` and is intact.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let completedEpochs: Int
    /// The signal that asked for the stop, if one did (SIGINT or SIGTERM).
    public let signal: Int32?
    public var description: String {
        completedEpochs == 0 ? "interrupted before the first checkpoint; nothing to resume, run again to start afresh"
            : "interrupted; the checkpoint holds \(completedEpochs) completed epoch(s) (continue with --resume)"
    }
}
