/// Memory that a backend owns. The backend's concrete storage class returns its buffer to the backend's
/// pool in `deinit`, so device memory lives exactly as long as the last ``Tensor`` that refers to it.
public protocol TensorStorage: AnyObject, Sendable {
    /// Capacity in bytes (at least the tensor's `count · 4`).
    var byteCount: Int { get }
    /// The backend that made it, so a backend can refuse a tensor that lives elsewhere.
    var ownerID: ObjectIdentifier { get }
    /// A short name of the owner for error messages.
    var ownerName: String { get }
}

/// A dense float32 tensor with a shape, living on one backend.
///
/// Tensors are handles: copying one copies the reference, not the data. Data moves only through the
/// backend's `write`, `read`, `copy` and kernels.
public final class Tensor: Sendable, CustomStringConvertible {
    public let shape: TensorShape
    public let storage: any TensorStorage

    public init(shape: TensorShape, storage: any TensorStorage) {
        self.shape = shape
        self.storage = storage
    }

    /// Number of elements.
    public var count: Int { shape.count }

    public var description: String { "Tensor\(shape) on \(storage.ownerName)" }

    /// The same storage seen with another shape of the same element count.
    public func reshaped(_ newShape: TensorShape) throws -> Tensor {
        guard newShape.count == count else {
            throw LDMError.shapeMismatch(operation: "reshape", detail: "\(shape) has \(count) elements, \(newShape) has \(newShape.count)")
        }
        return Tensor(shape: newShape, storage: storage)
    }
}

extension Backend {
    /// Returns the backend's concrete storage of `tensor`, or throws when the tensor lives elsewhere.
    public func storage<S: TensorStorage>(of tensor: Tensor, as type: S.Type, for operation: String) throws -> S {
        guard tensor.storage.ownerID == ObjectIdentifier(self), let storage = tensor.storage as? S else {
            throw LDMError.wrongBackend(operation: operation, expected: info.description, got: tensor.storage.ownerName)
        }
        return storage
    }
}
