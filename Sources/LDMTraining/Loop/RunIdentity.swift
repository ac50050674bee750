import LDMEngine

/// What a checkpoint must match to be resumed: every stored property of a task's configuration (its data, sizes,
/// model shape, objective and its parameters, and the run settings: seed, optimiser, rates, schedule, weight
/// decay, clipping, logging cadence), flattened by reflection into `path.to.field → value` strings, so a field
/// added to a configuration later joins the identity without anyone remembering to add it. Left out: the epoch count
/// (resuming with more epochs is how a run is continued) and the form of the Kalman means (`timeParallel`: the same
/// numbers up to rounding, whichever runs faster where the run resumes). Arrays of more than a few values (a user's
/// data) are recorded by count and a 64-bit FNV-1a hash of their bytes.
enum RunIdentity {
    /// The flattened fields of `configuration`.
    static func of(_ configuration: Any) -> [String: String] {
        var fields: [String: String] = [:]
        flatten(configuration, path: "", into: &fields)
        return fields
    }

    private static func flatten(_ value: Any, path: String, into fields: inout [String: String]) {
        if let summary = arraySummary(value) {
            fields[path] = summary
            return
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .struct?, .class?:
            guard !mirror.children.isEmpty else { break }
            for (index, child) in mirror.children.enumerated() {
                let name = child.label ?? String(index)
                // The fields that may differ between a run and the checkpoint it resumes.
                if (value is RunSettings && name == "epochs") || child.value is KalmanTimeParallel { continue }
                flatten(child.value, path: path.isEmpty ? name : "\(path).\(name)", into: &fields)
            }
            return
        case .optional?:
            guard let wrapped = mirror.children.first else {
                fields[path] = "nil"
                return
            }
            flatten(wrapped.value, path: path, into: &fields)
            return
        default:
            break
        }
        fields[path] = String(describing: value)
    }

    /// "N values, fnv1a XXXX" for long numeric arrays; short ones are written out by `String(describing:)`.
    private static func arraySummary(_ value: Any) -> String? {
        func summary<T>(_ array: [T]) -> String? {
            guard array.count > 16 else { return nil }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            array.withUnsafeBytes { bytes in
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            }
            return "\(array.count) values, fnv1a \(String(hash, radix: 16))"
        }
        switch value {
        case let array as [Float]: return summary(array)
        case let array as [Double]: return summary(array)
        case let array as [Int]: return summary(array)
        default: return nil
        }
    }
}
