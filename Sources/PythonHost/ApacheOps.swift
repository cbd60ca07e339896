@preconcurrency import CPython
@preconcurrency public import CSwiftWSGI
import Glibc

/// The Apache operations the shim registered (see swiftwsgi_abi.h). Each call can block, so
/// callers holding the GIL release it around them — except a body write that `buffersWrite`
/// says will only be buffered.
public struct ApacheOps: @unchecked Sendable {
    public let table: swiftwsgi_ops_t
    /// Whether write_body(request, length, flush) will only copy into a buffer, without any
    /// I/O: then the GIL is kept (releasing and taking it back costs more, under contention a
    /// wake-up). nil: every write may block.
    public let buffersWrite: (@Sendable (swiftwsgi_request_handle_t?, Int, Bool) -> Bool)?

    public init(_ table: swiftwsgi_ops_t, buffersWrite: (@Sendable (swiftwsgi_request_handle_t?, Int, Bool) -> Bool)? = nil) {
        self.table = table
        self.buffersWrite = buffersWrite
    }

    /// Logs message line by line (Apache escapes newlines inside one entry). Without the GIL.
    public func log(_ request: swiftwsgi_request_handle_t?, _ level: Int, _ message: String) {
        guard let log = table.log else { return }
        for line in message.split(separator: "\n", omittingEmptySubsequences: false) {
            log(request, Int32(level), String(line))
        }
    }

    /// Logs an error line (server-level when request is nil).
    public func logError(_ request: swiftwsgi_request_handle_t?, _ message: String) {
        log(request, SWIFTWSGI_LOG_ERR, message)
    }

    /// Logs the current Python exception with its traceback and clears it. With the GIL held;
    /// releases it while writing to the log.
    func logException(_ request: swiftwsgi_request_handle_t?, interpreter: Interpreter, intro: String) {
        let text = PythonRuntime.formatCurrentException(interpreter: interpreter)
        let message = "mod_swiftwsgi (pid=\(getpid())): \(intro)\n" + text
        withoutGIL { log(request, SWIFTWSGI_LOG_ERR, message) }
    }
}

extension PythonRuntime {
    /// The current exception formatted like Python's own traceback print-out; clears it.
    static func formatCurrentException(interpreter: Interpreter) -> String {
        var excType: PyPointer?, excValue: PyPointer?, excTB: PyPointer?
        PyErr_Fetch(&excType, &excValue, &excTB)
        guard excType != nil else { return "" }
        PyErr_NormalizeException(&excType, &excValue, &excTB)
        if let excValue, let excTB { PyException_SetTraceback(excValue, excTB) }
        defer { Py_XDECREF(excType); Py_XDECREF(excValue); Py_XDECREF(excTB) }
        let type = excType!, value = excValue, tb = excTB
        var text = ""
        if let format = interpreter.formatException,
           let lines = swpy_call3(format, type, value ?? Py.none, tb ?? Py.none) {
            defer { Py_DecRef(lines) }
            if let joined = Py.string(""), let all = PyUnicode_Join(joined, lines) {
                text = Py.swiftString(all) ?? ""
                Py_DecRef(all)
                Py_DecRef(joined)
            }
        }
        PyErr_Clear()
        if text.isEmpty, let value, let s = PyObject_Str(value) {
            text = Py.swiftString(s) ?? "unknown error"
            Py_DecRef(s)
        }
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }
}
