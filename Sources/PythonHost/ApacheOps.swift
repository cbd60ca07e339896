@preconcurrency import CPython
@preconcurrency public import CSwiftWSGI
import Glibc

/// The Apache operations the shim registered (see swiftwsgi_abi.h). Each can block, so each
/// takes an `Unlocked` token: it is callable only where the GIL is not held (inside
/// `gil.released { }`, or at an entry point Apache called). The table itself is private.
///
/// The one exception is `writeBuffered`: in a daemon process a body write that fits in the
/// connection's output buffer is a memory copy without I/O, done with the GIL held (releasing
/// and taking it back costs more, under contention a wake-up).
public struct ApacheOps: @unchecked Sendable {
    private let table: swiftwsgi_ops_t
    /// Whether write_body(request, length, flush) will only copy into a buffer, without any
    /// I/O. nil: every write may block.
    private let buffersWrite: (@Sendable (swiftwsgi_request_handle_t?, Int, Bool) -> Bool)?

    public init(_ table: swiftwsgi_ops_t, buffersWrite: (@Sendable (swiftwsgi_request_handle_t?, Int, Bool) -> Bool)? = nil) {
        self.table = table
        self.buffersWrite = buffersWrite
    }

    /// Whether the operations buffer body writes themselves (daemon mode): then the request
    /// does not hold output back (HeldOutput) on top.
    var buffersOwnWrites: Bool { buffersWrite != nil }

    /// Logs message under id at level (a SWIFTWSGI_LOG_* value), server-level when request is
    /// nil: `LogFormat` puts the id on each line. A new message takes a new `LogID`.
    public func log(_ request: swiftwsgi_request_handle_t?, _ level: Int, _ id: LogID, _ message: String,
                    _ unlocked: borrowing Unlocked) {
        guard let log = table.log else { return }
        for line in LogFormat.lines(id, message) { log(request, Int32(level), line) }
    }

    /// Logs an error message under id (server-level when request is nil).
    public func logError(_ request: swiftwsgi_request_handle_t?, _ id: LogID, _ message: String,
                         _ unlocked: borrowing Unlocked) {
        log(request, SWIFTWSGI_LOG_ERR, id, message, unlocked)
    }

    /// Logs one line another process formatted (a daemon's, relayed by the Apache child that
    /// holds its request): it already carries its id.
    public func relay(_ request: swiftwsgi_request_handle_t?, _ level: Int, line: UnsafePointer<CChar>?,
                      _ unlocked: borrowing Unlocked) {
        table.log?(request, Int32(level), line)
    }

    /// Reads up to count body bytes: the count, 0 at the end, -1 on failure with the HTTP status
    /// Apache reported (e.g. 413) in status.
    public func readBody(_ request: swiftwsgi_request_handle_t?, _ buffer: UnsafeMutablePointer<CChar>?, _ count: Int,
                         _ status: inout Int32, _ unlocked: borrowing Unlocked) -> Int {
        table.read_body?(request, buffer, count, &status) ?? -1
    }

    /// Sets the response status and headers. 0 on success.
    public func setResponse(_ request: swiftwsgi_request_handle_t?, _ status: Int32, _ line: UnsafePointer<CChar>?,
                            _ headers: UnsafePointer<swiftwsgi_kv_t>?, _ count: Int,
                            _ unlocked: borrowing Unlocked) -> Int32 {
        table.set_response?(request, status, line, headers, count) ?? -1
    }

    /// Writes body bytes (and flushes them when flush is set). 0 on success.
    public func writeBody(_ request: swiftwsgi_request_handle_t?, _ data: UnsafePointer<CChar>?, _ count: Int,
                          flush: Bool, _ unlocked: borrowing Unlocked) -> Int32 {
        table.write_body?(request, data, count, flush ? 1 : 0) ?? -1
    }

    /// Sends length bytes of fd from offset as a file bucket. 0 on success.
    public func sendFile(_ request: swiftwsgi_request_handle_t?, _ fd: Int32, _ offset: Int64, _ length: Int64,
                         sendfile: Bool, _ unlocked: borrowing Unlocked) -> Int32 {
        table.send_file?(request, fd, offset, length, sendfile ? 1 : 0) ?? -1
    }

    /// Aborts the client connection (no keep-alive: a truncated response must not look complete).
    public func abortConnection(_ request: swiftwsgi_request_handle_t?, _ unlocked: borrowing Unlocked) {
        table.abort_connection?(request)
    }

    /// Reads Apache's scoreboard into plain values (its callbacks cannot touch Python: no GIL
    /// here). nil when this process has none.
    public func readScoreboard(_ unlocked: borrowing Unlocked) -> Scoreboard? {
        guard let read = table.scoreboard else { return nil }
        final class Collector { var board = Scoreboard() }
        let collector = Collector()
        var server = swiftwsgi_scoreboard_t()
        let rc = read(&server, { context, p in
            guard let context, let p else { return }
            let c = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
            c.board.processes.append(Scoreboard.Process(info: p.pointee, workers: []))
        }, { context, w in
            guard let context, let w else { return }
            let c = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
            guard !c.board.processes.isEmpty else { return }
            c.board.processes[c.board.processes.count - 1].workers.append(Scoreboard.Worker(w.pointee))
        }, Unmanaged.passUnretained(collector).toOpaque())
        guard rc == 0 else { return nil }
        collector.board.server = server
        return collector.board
    }

    /// The shim's scoreboard function, for forwarding it into another operations table (a
    /// daemon process's, which reads the scoreboard it inherited from Apache's parent).
    public var scoreboardFunction: (@convention(c) (UnsafeMutablePointer<swiftwsgi_scoreboard_t>?,
        (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<swiftwsgi_scoreboard_process_t>?) -> Void)?,
        (@convention(c) (UnsafeMutableRawPointer?, UnsafePointer<swiftwsgi_scoreboard_worker_t>?) -> Void)?,
        UnsafeMutableRawPointer?) -> Int32)? { table.scoreboard }

    /// The hot-path exception: writes body bytes without flushing when the process's own
    /// output buffer takes them without any I/O (daemon mode). Returns nil when it would not
    /// (then the caller releases the GIL and calls `writeBody`), else write_body's result.
    @inline(__always)
    func writeBuffered(_ request: swiftwsgi_request_handle_t?, _ data: UnsafePointer<CChar>?, _ count: Int,
                       _ gil: borrowing GIL) -> Int32? {
        guard let buffersWrite, buffersWrite(request, count, false), let write = table.write_body else { return nil }
        return write(request, data, count, 0)
    }

    /// The same exception for the response headers: sets them with the GIL held when the
    /// process's own output buffer takes them and `reserving` more bytes without any I/O
    /// (daemon mode). nil when it would not (then the caller releases the GIL and calls
    /// `setResponse`), else set_response's result.
    @inline(__always)
    func setResponseBuffered(_ request: swiftwsgi_request_handle_t?, _ status: Int32, _ line: UnsafePointer<CChar>,
                             _ headers: UnsafeBufferPointer<swiftwsgi_kv_t>, reserving: Int,
                             _ gil: borrowing GIL) -> Int32? {
        guard let buffersWrite, let set = table.set_response else { return nil }
        // An upper bound of the frame: each string with a length word and its NUL.
        var size = 16 + strlen(line)
        for kv in headers { size += 16 + (kv.name.map { strlen($0) } ?? 0) + (kv.value.map { strlen($0) } ?? 0) }
        guard buffersWrite(request, size + 5 + reserving, false) else { return nil }
        return set(request, status, line, headers.baseAddress, headers.count)
    }

    /// Logs the current Python exception with its traceback and clears it; releases the GIL
    /// while writing to the log.
    func logException(_ request: swiftwsgi_request_handle_t?, interpreter: Interpreter, _ id: LogID, intro: String,
                      _ gil: inout GIL) {
        let text = PythonRuntime.formatCurrentException(interpreter: interpreter, gil)
        let refused = interpreter.ownGIL ? Self.extensionRefusedByOwnGIL(text) : nil
        gil.released {
            log(request, SWIFTWSGI_LOG_ERR, id, intro + "\n" + text, $0)
            guard let module = refused else { return }
            log(request, SWIFTWSGI_LOG_ERR, .extensionNeedsSharedGIL,
                "C extension module '\(module)' cannot be imported in application group "
                + "'\(interpreter.name)', which has its own GIL (WSGIPerInterpreterGIL): the module does not support "
                + "per-interpreter GILs (single-phase initialisation, or no Py_mod_multiple_interpreters slot saying so). "
                + "Set WSGIPerInterpreterGIL Off for this application group "
                + "(<WSGIInterpreterOptions application-group=\(interpreter.name)>), or run it in application group %{GLOBAL}.", $0)
        }
    }

    /// The extension module a formatted traceback says an interpreter refused to import because
    /// it lacks multi-interpreter support, or nil. CPython (3.12, 3.13) words that ImportError
    /// "module NAME does not support loading in subinterpreters", for single-phase-init modules
    /// and for multi-phase ones without Py_MOD_PER_INTERPRETER_GIL_SUPPORTED alike; searching the
    /// whole text also finds it when a library re-raised it as another exception's cause.
    static func extensionRefusedByOwnGIL(_ traceback: String) -> String? {
        let marker = " does not support loading in subinterpreters"
        for line in traceback.split(separator: "\n") {
            guard let end = line.firstRange(of: marker) else { continue }
            let words = line[..<end.lowerBound].split(separator: " ")
            if words.count >= 2, words[words.count - 2].hasSuffix("module") { return String(words[words.count - 1]) }
        }
        return nil
    }

    /// Logs message under id, releasing the GIL while writing to the log.
    func log(_ request: swiftwsgi_request_handle_t?, _ level: Int, _ id: LogID, _ message: String, _ gil: inout GIL) {
        gil.released { log(request, level, id, message, $0) }
    }
}
