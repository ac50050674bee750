import Synchronization

/// A cache of freed device buffers keyed by their exact byte size.
///
/// Training allocates the same shapes every step; reusing freed buffers keeps allocation off the hot path.
/// `take` returns a cached buffer of exactly the requested size; `give` caches a freed one unless the cache
/// would exceed `capacityBytes`, in which case the caller releases it. When a fresh allocation fails, the
/// backend calls `drain()` to release everything cached and retries once before reporting out-of-memory.
public final class BufferPool<Handle: Sendable>: Sendable {
    private struct State {
        var free: [Int: [Handle]] = [:]
        var cachedBytes = 0
    }

    private let state = Mutex(State())
    /// The most bytes kept for reuse.
    public let capacityBytes: Int

    public init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// A cached buffer of exactly `bytes`, if any.
    public func take(bytes: Int) -> Handle? {
        state.withLock { s in
            guard var list = s.free[bytes], let handle = list.popLast() else { return nil }
            s.free[bytes] = list.isEmpty ? nil : list
            s.cachedBytes -= bytes
            return handle
        }
    }

    /// Caches `handle`; returns false (and keeps nothing) when the cache is full, so the caller frees it.
    public func give(_ handle: Handle, bytes: Int) -> Bool {
        state.withLock { s in
            guard s.cachedBytes + bytes <= capacityBytes else { return false }
            s.free[bytes, default: []].append(handle)
            s.cachedBytes += bytes
            return true
        }
    }

    /// Removes and returns every cached buffer with its size, for the caller to release.
    public func drain() -> [(handle: Handle, bytes: Int)] {
        state.withLock { s in
            let all = s.free.flatMap { bytes, handles in handles.map { (handle: $0, bytes: bytes) } }
            s.free = [:]
            s.cachedBytes = 0
            return all
        }
    }

    /// Bytes currently cached.
    public var cachedBytes: Int { state.withLock { $0.cachedBytes } }
}
