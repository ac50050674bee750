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

    /// The source of `family`, from `LDM_KERNEL_DIR` if set and the file exists there, else embedded, with its
    /// `#include "other.cl"` lines replaced by those files (the same way). Returns nil for an unknown family.
    public static func source(of family: String) -> String? {
        resolvingIncludes(family) { name in
            if let directory = ProcessInfo.processInfo.environment[overrideVariable], !directory.isEmpty {
                let path = URL(fileURLWithPath: directory).appendingPathComponent(name + ".cl").path
                if let text = try? String(contentsOfFile: path, encoding: .utf8) { return text }
            }
            return EmbeddedKernels.sources[name]
        }
    }

    /// The embedded source of `family` with its includes, ignoring `LDM_KERNEL_DIR`.
    public static func embeddedSource(of family: String) -> String? {
        resolvingIncludes(family) { EmbeddedKernels.sources[$0] }
    }

    /// `family`'s text with each line `#include "name.cl"` replaced by `name`'s text, once per file (an included
    /// file may include others; one already included is left out). The programs are built from strings, so the
    /// OpenCL compiler never sees the directive. Nil when `family` or an included file is unknown.
    private static func resolvingIncludes(_ family: String, _ text: (String) -> String?) -> String? {
        var included: Set<String> = []
        func expand(_ name: String) -> String? {
            guard included.insert(name).inserted else { return "" }
            guard let source = text(name) else { return nil }
            var lines: [String] = []
            for line in source.split(separator: "\n", omittingEmptySubsequences: false) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("#include \""), trimmed.hasSuffix(".cl\"") {
                    guard let inner = expand(String(trimmed.dropFirst("#include \"".count).dropLast(".cl\"".count))) else { return nil }
                    lines.append(inner)
                } else {
                    lines.append(String(line))
                }
            }
            return lines.joined(separator: "\n")
        }
        return expand(family)
    }
}
