import Foundation
import LDMEngine

/// A value of summary.json beyond the common keys: a number, a list, a list of pairs, or text.
public enum SummaryValue: Sendable, Equatable, Encodable {
    case number(Double)
    case numbers([Double])
    case pairs([[Double]])
    case text(String)

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .numbers(let values): try container.encode(values)
        case .pairs(let values): try container.encode(values)
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

    /// Writes summary.json (pretty, sorted keys) into `directory`, atomically.
    func write(to directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let path = (directory as NSString).appendingPathComponent("summary.json")
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw LDMError.invalidFile(path: path, problem: "cannot write: \((error as NSError).localizedDescription)")
        }
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
}

/// Thrown when a stop was requested (Ctrl-C, SIGTERM, or ``TrainingLoop/shouldStop``) after the current step; the
/// checkpoint holds `completedEpochs` and is intact.
public struct TrainingInterrupted: Error, CustomStringConvertible {
    public let completedEpochs: Int
    /// The signal that asked for the stop, if one did (SIGINT or SIGTERM).
    public let signal: Int32?
    public var description: String {
        "interrupted; the checkpoint holds \(completedEpochs) completed epoch(s) (continue with --resume)"
    }
}
