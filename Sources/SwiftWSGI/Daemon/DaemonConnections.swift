import PythonHost

/// The connections of a daemon process. An idle one sits here, watched by epoll; the worker
/// that gets its event claims it (takes it out), so no two threads ever read one connection,
/// and hands it back after the request. The main thread closes the idle ones at stop.
final class DaemonConnections: Sendable {
    private struct State {
        var next: UInt64 = 2
        var idle: [UInt64: FrameConnection] = [:]
        var closed = false
    }
    private let state = PlainLock(State())

    /// A token for a new connection, or nil once the process stops.
    func register() -> UInt64? {
        state.withLock { s in
            if s.closed { return nil }
            defer { s.next += 1 }
            return s.next
        }
    }

    /// Whether any connection is idle (one could receive a request no worker would take).
    var hasIdle: Bool {
        state.withLock { !$0.idle.isEmpty }
    }

    func claim(_ token: UInt64) -> FrameConnection? {
        state.withLock { $0.idle.removeValue(forKey: token) }
    }

    /// Makes the connection idle again, then re-arms it (outside the lock: no event can come
    /// before, so nobody claims it early); dropped (closed) when the process is stopping or
    /// re-arming fails. The caller's reference keeps the descriptor open while it re-arms, and
    /// once stopping no new connection is registered, so a descriptor closed by `closeIdle`
    /// meanwhile can never be another registered connection's.
    func release(_ token: UInt64, _ connection: FrameConnection, rearm: () throws(SystemError) -> Void) {
        let kept = state.withLock { s in
            guard !s.closed else { return false }
            s.idle[token] = connection
            return true
        }
        guard kept else { return }
        do {
            try rearm()
        } catch {
            _ = claim(token)
        }
    }

    /// Closes every idle connection and refuses new ones.
    func closeIdle() {
        let dropped = state.withLock { s in
            s.closed = true
            let idle = s.idle
            s.idle = [:]
            return idle
        }
        // Their descriptors close here, outside the lock, as the last references go.
        withExtendedLifetime(dropped) {}
    }
}
