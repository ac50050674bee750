import Foundation

/// Every failure the engine reports: typed, with a message that names what was wrong and where.
///
/// Library code never traps on bad input or a device failure; it throws one of these. The `description` is
/// a single line fit for a command-line error message (a build log, when present, follows on later lines).
public enum LDMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Operand shapes do not fit the operation; raised before anything is launched.
    case shapeMismatch(operation: String, detail: String)
    /// An argument is out of its domain (a non-positive size, a NaN scale, an unknown device index...).
    case invalidArgument(String)
    /// An allocation failed even after the backend released its cached buffers.
    case outOfMemory(bytes: Int, device: String)
    /// A tensor that lives on another backend was passed to this one.
    case wrongBackend(operation: String, expected: String, got: String)
    /// A device API call failed: `name` is the symbolic error code (for OpenCL, e.g. `CL_OUT_OF_RESOURCES`).
    case deviceFailure(call: String, code: Int32, name: String, device: String)
    /// A kernel source failed to compile; `log` is the compiler's build log.
    case kernelBuildFailed(kernel: String, device: String, log: String)
    /// No device of the requested kind is present.
    case noDevice(String)
    /// A matrix that must be symmetric positive definite is not, even after the jitter policy of docs/mathematics.md §9.
    case notPositiveDefinite(what: String, detail: String)
    /// A file could not be read or written, or its contents are not what was expected.
    case invalidFile(path: String, problem: String)
    /// A collective between the processes of a data-parallel run failed or timed out, seen from `rank` of `size`.
    case communication(rank: Int, size: Int, problem: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, detail):
            return "shape mismatch in \(op): \(detail)"
        case let .invalidArgument(message):
            return "invalid argument: \(message)"
        case let .outOfMemory(bytes, device):
            return "out of memory: could not allocate \(Self.formatBytes(bytes)) (\(bytes) bytes) on \(device)"
        case let .wrongBackend(op, expected, got):
            return "\(op): tensor lives on \(got), expected \(expected)"
        case let .deviceFailure(call, code, name, device):
            return "\(call) failed with \(name) (\(code)) on \(device)"
        case let .kernelBuildFailed(kernel, device, log):
            return "building kernel '\(kernel)' failed on \(device); compiler log:\n\(log)"
        case let .noDevice(message):
            return "no device: \(message)"
        case let .notPositiveDefinite(what, detail):
            return "\(what) is not positive definite: \(detail)"
        case let .invalidFile(path, problem):
            return "\(path): \(problem)"
        case let .communication(rank, size, problem):
            return "rank \(rank) of \(size): \(problem)"
        }
    }

    /// Human-readable byte count (binary units).
    public static func formatBytes(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
