import ArgumentParser
import Foundation
import LDMEngine

/// `ldm`: the latent-distribution-matching engine's command-line tool.
@main
struct LDM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ldm",
        abstract: "Latent distribution matching engine: kernels on the CPU and OpenCL devices.",
        discussion: """
            Backends: 'cpu' (OpenBLAS + threads, always there) and 'opencl' (a device from `ldm devices`, \
            chosen by --device N or LDM_OPENCL_DEVICE).
            """,
        subcommands: [TrainCommand.self, Devices.self, Bench.self, ObjectiveCommand.self, KalmanCommand.self, MetricsCommand.self,
                      ParallelCheckCommand.self])
}

/// Runs `body`, turning engine errors into a one-line message on standard error and exit status 1.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as LDMError {
        FileHandle.standardError.write(Data("ldm: error: \(error)\n".utf8))
        throw ExitCode(1)
    } catch let error as ExitCode {
        throw error
    } catch {
        FileHandle.standardError.write(Data("ldm: error: \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Prints to standard error (progress and notes; standard output stays machine-readable with --json).
func note(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// JSON with sorted keys, for stable output.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}
