import COpenCL
import Foundation
import LDMEngine

/// knn (OpenCL launcher of Kernels/knn.cl): neighbours and distances on the device; only ρ (one float per row)
/// comes back, for the detached quantile and the value; the gradient is gathered on the device.
extension OpenCLBackend {
    static let knnGroup = 64
    /// The largest k the kernel's private top-k arrays are compiled for.
    static let knnLargestK = 32

    public func uncheckedKnnEntropy(_ z: Tensor, gradient: Tensor, _ s: KNNShape) throws -> KNNResult {
        guard s.k <= Self.knnLargestK else {
            throw LDMError.invalidArgument("knnEntropy: k = \(s.k) exceeds the OpenCL kernel's limit of \(Self.knnLargestK)")
        }
        let op = "knnEntropy \(s)"
        _ = try requireInt32(z.count, op)
        let rho2 = try makeTensor([s.rows])
        let neighbours = try makeTensor([s.rows])   // int32 indices, same width as float
        let options = "-DKNN_K=\(s.k) -DKNN_WG=\(Self.knnGroup)"
        let global = [padded(s.rows, to: Self.knnGroup)], local = [Self.knnGroup]
        try launch(try kernel("knn", "knn_neighbours", options: options), "knn_neighbours",
                   [.int(Int32(s.rows)), .int(Int32(s.dimension)), .buffer(try mem(z, op)), .buffer(try mem(rho2, op)),
                    .buffer(try mem(neighbours, op))], global: global, local: local)
        let rho = try download(rho2).map { Double($0).squareRoot() }
        let (cap, value) = s.capAndValue(rho)
        try launch(try kernel("knn", "knn_gradient", options: options), "knn_gradient",
                   [.int(Int32(s.rows)), .int(Int32(s.dimension)), .float(cap), .float(s.scale / Float(s.rows)),
                    .buffer(try mem(z, op)), .buffer(try mem(rho2, op)), .buffer(try mem(neighbours, op)),
                    .buffer(try mem(gradient, op))], global: global, local: local)
        return KNNResult(value: value, cap: cap)
    }
}
