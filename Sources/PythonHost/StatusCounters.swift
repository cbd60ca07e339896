@preconcurrency public import CSwiftWSGI

/// Where an Apache child counts its interpreters' requests for mod_status: the group names
/// every child shares and this child's row, in memory the Apache parent mapped before it forked
/// (swiftwsgi_status_layout.h). Each request adds to its interpreter's counters twice (begun, ended),
/// relaxed atomics, nothing else.
public struct StatusCounters: @unchecked Sendable {
    let names: UnsafeMutablePointer<swiftwsgi_status_name_t>
    let row: UnsafeMutablePointer<swiftwsgi_child_counters_t>

    public init?(names: UnsafeMutablePointer<swiftwsgi_status_name_t>?, row: UnsafeMutablePointer<swiftwsgi_child_counters_t>?) {
        guard let names, let row else { return nil }
        self.names = names
        self.row = row
    }

    /// The counters of application group `name` ("" for %{GLOBAL}) in this child's row: its
    /// named entry, or the other groups' entry once every name is taken.
    func counters(forGroup name: String) -> UnsafeMutablePointer<swiftwsgi_interpreter_counters_t> {
        let index = name.withCString { swiftwsgi_status_group_index(names, $0) }
        return swiftwsgi_child_group_counters(row, index)
    }

    /// Counters of a process without shared ones (a daemon process, or no mod_status): the
    /// interpreter's own, for its life (interpreters are never freed).
    static func local() -> UnsafeMutablePointer<swiftwsgi_interpreter_counters_t> {
        let counters = UnsafeMutablePointer<swiftwsgi_interpreter_counters_t>.allocate(capacity: 1)
        counters.initialize(to: swiftwsgi_interpreter_counters_t(begun: 0, ended: 0))
        return counters
    }
}
