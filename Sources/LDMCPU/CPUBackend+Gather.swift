import LDMEngine

/// gather (CPU twin of Kernels/gather.cl): rows of a table picked by a float32 index tensor; an index that is not a
/// whole number in 0..<rows gives a row of NaN.
extension CPUBackend {
    public func uncheckedGatherRows(_ table: Tensor, _ indices: Tensor, into out: Tensor, _ s: GatherShape) throws {
        let op = "gatherRows \(s)"
        let pt = try floats(table, op), pi = try floats(indices, op), po = try floats(out, op)
        let columns = s.columns
        Parallel.forChunks(s.count, threads: threads, costPerItem: columns) { rows in
            for i in rows {
                let index = pi[s.offset + i], row = po + i * columns
                guard index >= 0, index < Float(s.rows), index == index.rounded(.down) else {
                    row.update(repeating: .nan, count: columns)
                    continue
                }
                row.update(from: pt + Int(index) * columns, count: columns)
            }
        }
    }
}
