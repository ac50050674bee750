/// The extents of a dense, row-major (C order) float32 tensor.
public struct TensorShape: Hashable, Sendable, CustomStringConvertible, ExpressibleByArrayLiteral {
    /// Extents from the outermost to the innermost (contiguous) axis.
    public let dims: [Int]

    public init(_ dims: [Int]) {
        self.dims = dims
    }

    public init(arrayLiteral elements: Int...) {
        self.dims = elements
    }

    /// Number of elements (1 for a scalar shape `[]`).
    public var count: Int { dims.reduce(1, *) }

    public var rank: Int { dims.count }

    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }

    /// Throws unless every extent is non-negative and the element count fits comfortably in memory maths.
    public func validate(_ what: String) throws {
        guard dims.allSatisfy({ $0 >= 0 }) else {
            throw LDMError.invalidArgument("\(what): negative extent in shape \(self)")
        }
        var total = 1
        for d in dims {
            let (product, overflow) = total.multipliedReportingOverflow(by: d)
            guard !overflow, product <= Int(Int32.max) * 64 else {
                throw LDMError.invalidArgument("\(what): shape \(self) has too many elements")
            }
            total = product
        }
    }
}
