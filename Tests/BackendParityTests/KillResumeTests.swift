import Foundation
import LDMEngine
import LDMReference
import Testing

/// SIGKILL at random moments: however often a run is killed and resumed, it ends bit for bit where an
/// uninterrupted run ends, with the same metrics, and leaves no temporary file behind. CI kills 6 times;
/// `LDM_LONG_TESTS=1` kills 20 times.
@Suite("Kill and resume")
struct KillResumeTests {
    static let kills = ProcessInfo.processInfo.environment["LDM_LONG_TESTS"] == "1" ? 20 : 6

    /// The metrics lines without their wall-clock seconds.
    static func metrics(_ directory: String) throws -> [String] {
        try String(contentsOfFile: directory + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map { line in
            var entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            entry["seconds"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    @Test func killedRunsResumeBitForBit() throws {
        let (straight, killed) = (temporaryDirectory("straight"), temporaryDirectory("killed"))
        defer { for d in [straight, killed] { try? FileManager.default.removeItem(atPath: d) } }
        let arguments = ["train", "--train-sequences", "64", "--epochs", "8", "--quiet"]
        let started = Date()
        let reference = try CLITests.run(arguments + ["--out", straight])
        try #require(reference.status == 0, "\(reference.error)")
        let duration = Date().timeIntervalSince(started)
        var generator = SeededGenerator(seed: 20)
        var (killsDone, finished) = (0, false)
        while !finished {
            let resume = FileManager.default.fileExists(atPath: killed + "/checkpoint.safetensors")
            let process = Process()
            process.executableURL = try #require(CLITests.ldm)
            process.arguments = arguments + ["--out", killed] + (resume ? ["--resume"] : [])
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if killsDone < Self.kills {
                // Anywhere in the run, start-up and checkpoint writes included.
                usleep(UInt32(Double.random(in: 0.02...max(0.05, duration), using: &generator) * 1e6))
                kill(process.processIdentifier, SIGKILL)
                killsDone += 1
            }
            process.waitUntilExit()
            finished = process.terminationReason == .exit && process.terminationStatus == 0
            if process.terminationReason == .exit && process.terminationStatus != 0 {
                Issue.record("a resumed run failed with status \(process.terminationStatus)")
                return
            }
        }
        let ours = try SafeTensors.read(killed + "/checkpoint.safetensors"), theirs = try SafeTensors.read(straight + "/checkpoint.safetensors")
        #expect(ours.tensors.keys.sorted() == theirs.tensors.keys.sorted())
        for (name, (values, _)) in theirs.tensors {
            #expect(ours.tensors[name]?.0.map(\.bitPattern) == values.map(\.bitPattern), "tensor \(name) differs after \(killsDone) kills")
        }
        #expect(ours.metadata["final_loss"] == theirs.metadata["final_loss"])
        #expect(try Self.metrics(killed) == Self.metrics(straight), "metrics.jsonl differs after \(killsDone) kills")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: killed).filter { $0.hasSuffix(FileIO.partialSuffix) }
        #expect(leftovers.isEmpty, "temporary files left behind: \(leftovers)")
    }
}
