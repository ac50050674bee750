import Foundation

/// The OpenCL C sources of `Kernels/*.cl`, by family name (`"matmul"` for `Kernels/matmul.cl`).
///
/// The sources are embedded in the binary at build time by the `EmbedKernels` plugin. While editing kernels,
/// set `LDM_KERNEL_DIR` to a directory of `.cl` files (usually the checkout's `Kernels/`): a file found there
/// replaces the embedded one, with no rebuild.
public enum KernelSources {
    /// The environment variable naming a directory to load `.cl` files from.
    public static let overrideVariable = "LDM_KERNEL_DIR"

    /// Family names of every embedded kernel file.
    public static var embeddedNames: [String] { EmbeddedKernels.sources.keys.sorted() }

    /// The source of `family`, from `LDM_KERNEL_DIR` if set and the file exists there, else embedded.
    /// Returns nil for an unknown family.
    public static func source(of family: String) -> String? {
        if let directory = ProcessInfo.processInfo.environment[overrideVariable], !directory.isEmpty {
            let path = URL(fileURLWithPath: directory).appendingPathComponent(family + ".cl").path
            if let text = try? String(contentsOfFile: path, encoding: .utf8) { return text }
        }
        return EmbeddedKernels.sources[family]
    }

    /// The embedded source of `family`, ignoring `LDM_KERNEL_DIR`.
    public static func embeddedSource(of family: String) -> String? {
        EmbeddedKernels.sources[family]
    }
}
