import Foundation
import LDMEngine

// The one place the commands read and write .npy arrays: every input is checked for rank, shape and finiteness,
// and refused with the file and the problem named.

/// A finite `.npy` array of one of the given ranks, refusing others with the file and the problem named.
func readFiniteArray(_ path: String, ranks: [Int], what: String) throws -> (TensorShape, [Float]) {
    let (shape, values) = try NumPyFile.read(path)
    guard ranks.contains(shape.rank) else {
        throw LDMError.invalidFile(path: path, problem: "\(what) must have rank \(ranks.map(String.init).joined(separator: " or ")), found shape \(shape)")
    }
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw LDMError.invalidFile(path: path, problem: "\(what) has a non-finite value at flat index \(bad)")
    }
    return (shape, values)
}

/// A finite N × d matrix (N, d ≥ 1) from `path`; a non-finite entry is named by row and column.
func readMatrix(_ path: String, what: String) throws -> (rows: Int, columns: Int, values: [Float]) {
    let (shape, values) = try NumPyFile.read(path)
    guard shape.rank == 2, shape.dims[0] >= 1, shape.dims[1] >= 1 else {
        throw LDMError.invalidFile(path: path, problem: "\(what) must be an N × d matrix, found shape \(shape)")
    }
    if let bad = values.firstIndex(where: { !$0.isFinite }) {
        throw LDMError.invalidFile(path: path, problem: "non-finite value \(values[bad]) at row \(bad / shape.dims[1]), column \(bad % shape.dims[1])")
    }
    return (shape.dims[0], shape.dims[1], values)
}

/// Reads whole numbers ≥ 0 (labels, cluster ids) stored as a float .npy of shape [N] or [N, 1]; anything else is
/// refused with the file, the entry and its value named.
func readWholeNumbers(_ path: String, what: String) throws -> [Int] {
    let (shape, values) = try readFiniteArray(path, ranks: [1, 2], what: what)
    guard shape.rank == 1 || shape.dims[1] == 1 else {
        throw LDMError.invalidFile(path: path, problem: "\(what) must be one column, found shape \(shape)")
    }
    if let bad = values.firstIndex(where: { $0 < 0 || $0 != $0.rounded() || $0 > 1e6 }) {
        throw LDMError.invalidFile(path: path, problem: "\(what) must be non-negative integers, found \(values[bad]) at index \(bad)")
    }
    return values.map { Int($0) }
}

/// Writes each (file name, values, shape) as .npy into `directory` (created if missing), all together: they are
/// staged and renamed into place only once every one is written, so a failure leaves none of them behind.
func writeArrays(_ files: [(String, [Float], TensorShape)], to directory: String) throws {
    try FileIO.writeAll(try files.map { ($0.0, try NumPyFile.encode($0.1, shape: $0.2)) }, into: directory)
}
