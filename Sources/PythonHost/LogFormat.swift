import Glibc

/// The one formatter of the host's log messages. Every line starts with the message's id
/// ("SWW1027: "); the first line of the host's own messages then says who speaks, as mod_wsgi's
/// do ("mod_swiftwsgi (pid=N): ", in a daemon process "mod_swiftwsgi (pid=N, process='group'): ").
/// The application's output (`LogID.applicationOutput`) keeps its own words. Apache escapes
/// newlines inside one entry, so a message of several lines (a traceback) is one entry each.
public enum LogFormat {
    /// The daemon process group this process serves, named in each message; nil in Apache's
    /// children. Set once by a daemon process before it starts any thread.
    nonisolated(unsafe) public static var processGroup: String?

    /// Who speaks, as mod_wsgi says it: "mod_swiftwsgi (pid=N): ".
    public static var speaker: String {
        if let processGroup { return "mod_swiftwsgi (pid=\(getpid()), process='\(processGroup)'): " }
        return "mod_swiftwsgi (pid=\(getpid())): "
    }

    /// message's lines as they go to the log.
    public static func lines(_ id: LogID, _ message: String) -> [String] {
        let prefix = id.rawValue + ": "
        var first = true
        return message.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            defer { first = false }
            return first && id != .applicationOutput ? prefix + speaker + line : prefix + line
        }
    }
}
