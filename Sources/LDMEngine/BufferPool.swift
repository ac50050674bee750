import Synchronization

/// A cache of freed device buffers keyed by their exact byte size, evicting the longest-cached first.
///
/// Training allocates the same shapes every step; reusing freed buffers keeps allocation (and, on the CPU, the
/// kernel's zeroing of fresh pages) off the hot path. `take` returns a cached buffer of exactly the requested size;
/// `give` caches a freed one and, when the cache would exceed `capacityBytes`, evicts the buffers cached longest ago
/// (an evaluation's batch sizes do not crowd out the training step's for good) and hands them back for the caller
/// to release. When a fresh allocation fails, the backend calls `drain()` to release everything cached and retries
/// once before reporting out-of-memory.
public final class BufferPool<Handle: Sendable>: Sendable {
    private struct State {
        /// Cached buffers by size, oldest first, each with the stamp of its caching.
        var free: [Int: [(handle: Handle, stamp: Int)]] = [:]
        /// (size, stamp) in caching order from `head` on; entries whose buffer was taken again are skipped.
        var order: [(bytes: Int, stamp: Int)] = []
        var head = 0
        var nextStamp = 0
        var cachedBytes = 0
    }

    private let state = Mutex(State())
    /// The most bytes kept for reuse.
    public let capacityBytes: Int

    public init(capacityBytes: Int) {
        self.capacityBytes = capacityBytes
    }

    /// A cached buffer of exactly `bytes`, if any (the most recently cached of that size).
    public func take(bytes: Int) -> Handle? {
        state.withLock { s in
            guard var list = s.free[bytes], let entry = list.popLast() else { return nil }
            s.free[bytes] = list.isEmpty ? nil : list
            s.cachedBytes -= bytes
            return entry.handle
        }
    }

    /// Caches `handle`, evicting the longest-cached buffers until it fits. Returns what the caller must release:
    /// the evicted buffers, or `handle` itself when it alone exceeds the capacity.
    public func give(_ handle: Handle, bytes: Int) -> [(handle: Handle, bytes: Int)] {
        state.withLock { s in
            guard bytes <= capacityBytes else { return [(handle, bytes)] }
            var evicted: [(handle: Handle, bytes: Int)] = []
            while s.cachedBytes + bytes > capacityBytes, s.head < s.order.count {
                let oldest = s.order[s.head]
                s.head += 1
                guard var list = s.free[oldest.bytes], list.first?.stamp == oldest.stamp else { continue }
                evicted.append((list.removeFirst().handle, oldest.bytes))
                s.free[oldest.bytes] = list.isEmpty ? nil : list
                s.cachedBytes -= oldest.bytes
            }
            if s.head > 1024 && s.head * 2 > s.order.count {   // drop the consumed prefix now and then
                s.order.removeFirst(s.head)
                s.head = 0
            }
            s.free[bytes, default: []].append((handle, s.nextStamp))
            s.order.append((bytes, s.nextStamp))
            s.nextStamp += 1
            s.cachedBytes += bytes
            return evicted
        }
    }

    /// Removes and returns every cached buffer with its size, for the caller to release.
    public func drain() -> [(handle: Handle, bytes: Int)] {
        state.withLock { s in
            let all = s.free.flatMap { bytes, entries in entries.map { (handle: $0.handle, bytes: bytes) } }
            s = State()
            return all
        }
    }

    /// Bytes currently cached.
    public var cachedBytes: Int { state.withLock { $0.cachedBytes } }
}
