import Foundation

/// Reading and writing whole files with the guarantees the command line promises: an input must be a regular,
/// readable file of a size this machine can hold (a FIFO, a pipe, a device or a directory is refused at once,
/// never waited on), and an output appears complete or not at all.
///
/// Every write goes to a temporary file named `.<name>.<pid>.ldm-partial` beside the target, is flushed to
/// disk, and is renamed over the target; several files written together are staged in a temporary
/// directory first and renamed into place only when all of them are written. A process killed in between
/// leaves only `*.ldm-partial` names, which ``removeStalePartials(in:)`` clears at the next run's start.
///
/// ```swift
/// let bytes = try FileIO.read("z1.npy", what: "z1")
/// try FileIO.write(Data(bytes), to: "copy.npy")
/// ```
public enum FileIO {
    /// The suffix of every temporary file and staging directory.
    public static let partialSuffix = ".ldm-partial"

    /// The bytes of the regular file at `path`; `what` names it in errors ("the checkpoint", "z1").
    public static func read(_ path: String, what: String = "the file") throws -> [UInt8] {
        // O_NONBLOCK: opening a FIFO with no writer returns at once instead of hanging; fstat then refuses it.
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path, "cannot read \(what)", errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure(path, "cannot read \(what)", errno) }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG else {
            let name = kind == S_IFDIR ? "a directory" : kind == S_IFIFO ? "a FIFO or pipe"
                : kind == S_IFCHR || kind == S_IFBLK ? "a device" : kind == S_IFSOCK ? "a socket" : "not a regular file"
            throw LDMError.invalidFile(path: path, problem: "\(what) is \(name); ldm reads regular files only")
        }
        let size = Int(info.st_size)
        try MemoryBudget.check(bytes: size, what: "reading \(what) (\(LDMError.formatBytes(size)))")
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let got = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + done, size - done) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                throw got == 0 ? LDMError.invalidFile(path: path, problem: "\(what) shrank while it was read")
                    : failure(path, "cannot read \(what)", errno)
            }
            done += got
        }
        return bytes
    }

    /// Writes `data` to `path` atomically: a reader sees the old file or the whole new one, never a part.
    public static func write(_ data: Data, to path: String) throws {
        let temporary = partialName(for: path)
        do {
            try writeDurably(data, to: temporary)
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Writes several files together: all are written into a staging directory inside `directory`, then renamed
    /// into place; when any write fails, none of the files appears and the staging directory is removed.
    /// `directory` is created if missing (and removed again if this call created it and nothing was written).
    public static func writeAll(_ files: [(name: String, data: Data)], into directory: String) throws {
        let created = !FileManager.default.fileExists(atPath: directory)
        try createOutputDirectory(directory)
        let staging = join(directory, ".staging.\(getpid())\(partialSuffix)")
        var renamed = 0
        do {
            for (name, _) in files where isDirectory(join(directory, name)) {
                throw LDMError.invalidFile(path: join(directory, name), problem: "is a directory; cannot write \(name) there")
            }
            guard mkdir(staging, 0o755) == 0 else { throw failure(staging, "cannot create a staging directory", errno) }
            for (name, data) in files { try writeDurably(data, to: join(staging, name)) }
            for (name, _) in files {
                try rename(join(staging, name), to: join(directory, name))
                renamed += 1
            }
            rmdir(staging)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            if created && renamed == 0 { rmdir(directory) }
            throw error
        }
    }

    /// Removes the temporary files and staging directories a killed process left in `directory`.
    /// Call it only while holding the directory's ``RunLock``, so no live writer's files are touched.
    public static func removeStalePartials(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasSuffix(partialSuffix) {
            try? FileManager.default.removeItem(atPath: join(directory, name))
        }
    }

    /// `.<name>.<pid>.ldm-partial` beside `path`.
    static func partialName(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid())\(partialSuffix)").path
    }

    private static func writeDurably(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "cannot write", errno) }
        defer { close(fd) }
        var done = 0
        while done < data.count {
            let wrote = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + done, data.count - done) }
            if wrote < 0 && errno == EINTR { continue }
            guard wrote > 0 else { throw failure(path, "cannot write", errno) }
            done += wrote
        }
        guard fsync(fd) == 0 else { throw failure(path, "cannot flush to disk", errno) }
    }

    private static func rename(_ from: String, to path: String) throws {
        guard Foundation.rename(from, path) == 0 else { throw failure(path, "cannot write", errno) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    static func join(_ directory: String, _ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    static func failure(_ path: String, _ action: String, _ code: Int32) -> LDMError {
        .invalidFile(path: path, problem: "\(action): \(String(cString: strerror(code)))")
    }
}

/// An advisory lock (`flock`) on a run directory's `.lock` file, held while a run writes there, so a second
/// run on the same directory stops at once with a clear error instead of interleaving its files.
public final class RunLock {
    private let fd: Int32

    /// Takes the lock of `directory` (which must exist), or throws naming the directory when another process holds it.
    /// Creating the lock file also proves the directory writable before any work starts.
    public init(directory: String) throws {
        let path = FileIO.join(directory, ".lock")
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw FileIO.failure(directory, "cannot write in the output directory", errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                throw LDMError.invalidFile(path: directory, problem: "another ldm run is using this directory (its .lock is held); "
                    + "wait for it to finish or choose another --out")
            }
            throw FileIO.failure(path, "cannot lock", code)
        }
    }

    deinit { close(fd) }   // closing the descriptor releases the lock
}

/// Upper bounds that follow from the machine: an allocation larger than its physical memory is refused before it
/// is attempted, with what needed it named.
public enum MemoryBudget {
    /// The machine's physical memory in bytes.
    public static var physicalBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory) }

    /// Throws unless `bytes` (non-negative) fits in physical memory.
    public static func check(bytes: Int, what: String) throws {
        guard bytes >= 0, bytes <= physicalBytes else {
            throw LDMError.invalidArgument("\(what) needs \(bytes < 0 ? "more than Int.max bytes" : LDMError.formatBytes(bytes)), "
                + "more than this machine's \(LDMError.formatBytes(physicalBytes)) of memory")
        }
    }

    /// Throws unless `count` float32 values fit in physical memory (the product of `factors`, checked).
    public static func check(floats factors: [Int], what: String) throws {
        var total = 4
        for factor in factors {
            let (product, overflow) = total.multipliedReportingOverflow(by: max(factor, 0))
            guard !overflow else { return try check(bytes: -1, what: what) }
            total = product
        }
        try check(bytes: total, what: what)
    }
}

/// Creates `directory` and its parents for output files, or throws ``LDMError/invalidFile(path:problem:)`` naming
/// the component that failed (a file in the way, no permission, a read-only file system).
public func createOutputDirectory(_ directory: String) throws {
    var prefix = ""
    for component in (directory as NSString).pathComponents {
        prefix = prefix.isEmpty ? component : (prefix as NSString).appendingPathComponent(component)
        if FileIO.isDirectory(prefix) { continue }
        var info = stat()
        if stat(prefix, &info) == 0 {
            throw LDMError.invalidFile(path: prefix, problem: "is a file, not a directory; cannot create the output directory \(directory)")
        }
        guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
            throw FileIO.failure(prefix, "cannot create the output directory", errno)
        }
    }
}
