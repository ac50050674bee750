import LDMEngine
import LDMParallel

/// SimCLR's NT-Xent loss, numerically lightly's `NTXentLoss(temperature)` without a memory bank: over the 2B
/// normalised rows of `[z1; z2]`, the mean cross-entropy of finding each row's partner among all other rows,
/// with logits `⟨ẑ_a, ẑ_b⟩/τ`.
///
/// In LDM terms (docs/mathematics.md §4) it is the sphere model with κ_p = 1/τ plus a leave-one-out vMF KDE entropy of the
/// 2B rows: `alignment = (1/τ)·mean_i ⟨ẑ1_i, ẑ2_i⟩`, `entropy = −mean_a lse_a`, `loss = −(alignment + entropy)`.
/// The 2B × 2B logits are never stored.
public struct NTXent: Objective {
    public var temperature: Float
    /// The ranks that split the 2B × 2B pairwise sums in a data-parallel run (nil: this process sums them all).
    public var group: ProcessGroup?

    public init(temperature: Float = 0.5, group: ProcessGroup? = nil) {
        self.temperature = temperature
        self.group = group
    }

    public var name: String { "simclr" }

    public func evaluate(_ z1: Tensor, _ z2: Tensor, on backend: any Backend) throws -> ObjectiveResult {
        let (rows, d) = try checkViews(z1, z2, name)
        try checkTemperature(temperature, "the temperature")
        let shape = RowsShape(rows: rows, columns: d)
        let u1 = try backend.makeTensor(z1.shape), u2 = try backend.makeTensor(z2.shape)
        let norms1 = try backend.makeTensor([rows]), norms2 = try backend.makeTensor([rows])
        try backend.normalizeRows(z1, into: u1, norms: norms1, shape)
        try backend.normalizeRows(z2, into: u2, norms: norms2, shape)

        let inverse = 1 / temperature
        let all = try backend.stackRows(u1, u2)
        // mean_a lse_a over the 2B rows, each leaving itself out, is −Ĥ of the leave-one-out vMF KDE at κ = 1/τ.
        let (entropy, dAll) = try KDEEntropy.evaluate(all, kernel: .dot, scale: inverse, leaveOneOut: true, weight: -1,
                                                      group: group, on: backend)
        let meanLSE = -entropy
        let alignment = Double(inverse) * (try backend.dot(u1, u2)) / Double(rows)
        let (du1, du2) = try backend.splitRows(dAll, at: rows)
        try backend.axpy(-inverse / Float(rows), u2, du1)
        try backend.axpy(-inverse / Float(rows), u1, du2)

        let dz1 = try backend.makeTensor(z1.shape), dz2 = try backend.makeTensor(z2.shape)
        try backend.normalizeRowsBackward(u1, norms1, du1, into: dz1, shape)
        try backend.normalizeRowsBackward(u2, norms2, du2, into: dz2, shape)
        let value = ObjectiveValue(loss: meanLSE - alignment, alignment: alignment, entropy: -meanLSE)
        return ObjectiveResult(value: value, dz1: dz1, dz2: dz2)
    }
}
