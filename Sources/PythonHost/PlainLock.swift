import Glibc

/// The host's one lock type: a value guarded by a pthread mutex.
///
/// One type for every lock of the host (PythonHost and SwiftWSGI; the Telemetry module, which
/// the host depends on and not the reverse, keeps the standard library's Mutex). A pthread
/// mutex rather than Synchronization.Mutex: on Linux, Mutex spins and then takes a
/// priority-inheritance futex under contention, and on a small machine with many request threads
/// a plain futex wait is cheaper; for the uncontended locks the two cost the same.
///
/// `withLock` is for state that never runs Python inside the lock. A lock that is held while
/// Python runs (script loading) is taken with `GIL.locking`, which waits for it without the GIL:
/// the lock order is the host's locks first, then the GIL.
public final class PlainLock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }

    /// Taken only without the GIL (the token says so): see `GIL.locking`.
    fileprivate func lock(_ unlocked: borrowing Unlocked) { pthread_mutex_lock(mutex) }
    fileprivate func unlock() { pthread_mutex_unlock(mutex) }
}

extension PlainLock where Value == Void {
    convenience init() { self.init(()) }
}

extension GIL {
    /// Runs body holding lock and the GIL: releases the GIL to wait for lock, then takes the
    /// GIL back (Python code run meanwhile may have changed anything the caller looked at).
    mutating func locking<R: ~Copyable, E: Error>(_ lock: PlainLock<Void>, _ body: (inout GIL) throws(E) -> R) throws(E) -> R {
        released { lock.lock($0) }
        defer { lock.unlock() }
        return try body(&self)
    }
}
