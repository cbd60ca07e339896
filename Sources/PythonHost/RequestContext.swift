@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

/// The state of one running request, reached from its Python objects through their `ctx`.
/// With the GIL held, except where it is released around Apache calls.
final class RequestContext {
    let handle: swiftwsgi_request_handle_t
    let ops: ApacheOps
    let input: RequestInput
    /// `"200 OK"` as latin-1 bytes once start_response was called.
    private var status: PyPointer?
    private var statusCode: Int32 = 0
    /// Header names and values, alternating, as latin-1 bytes.
    private var headers: PyPointer?
    private(set) var headersSent = false
    /// Bytes still allowed by the application's Content-Length, or -1 when it set none.
    private(set) var remaining: Int64 = -1
    private(set) var clientGone = false
    /// WSGIErrorOverride: an error status is answered by Apache (ErrorDocument) instead of
    /// the application's body.
    let errorOverride: Bool
    /// The status handed back to Apache under WSGIErrorOverride, or 0.
    private(set) var overriddenStatus: Int32 = 0

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// The request's environ (borrowed from the request's run, which owns it), for
    /// active_requests and the events' request ids.
    var environ: PyPointer?
    /// mod_wsgi.request_data(): created on first use.
    private var requestDataDict: PyPointer?
    /// The interpreter's module when events are published for this request (someone had
    /// subscribed when it began): response_started goes there, and output is timed.
    var events: ModWSGIModule?
    /// For request_finished: body writes, bytes the application produced, seconds writing.
    private(set) var outputWrites = 0
    private(set) var outputLength: Int64 = 0
    private(set) var outputTime = 0.0

    /// The request's scratchpad dict (borrowed), created on first use.
    func requestData() -> PyPointer? {
        if requestDataDict == nil { requestDataDict = PyDict_New() }
        return requestDataDict
    }

    init(handle: swiftwsgi_request_handle_t, ops: ApacheOps, errorOverride: Bool = false) {
        self.handle = handle
        self.ops = ops
        self.errorOverride = errorOverride
        self.input = RequestInput(handle: handle, ops: ops)
    }

    /// Drops the Python objects this request holds. With the GIL held, at the request's end.
    func release() {
        Py_XDECREF(status)
        Py_XDECREF(headers)
        Py_XDECREF(requestDataDict)
        status = nil
        headers = nil
        requestDataDict = nil
        environ = nil
        events = nil
    }

    /// The HTTP status the application set (0 before start_response).
    var responseStatus: Int32 { statusCode }

    var started: Bool { status != nil }

    // MARK: start_response

    /// start_response(status, headers, exc_info=None). Returns false with an exception set.
    func startResponse(status: PyPointer, headers: PyPointer, excInfo: PyPointer?) -> Bool {
        // mod_wsgi's rules: exc_info must be a tuple; once the headers went out, a call with
        // exc_info re-raises it and one without fails; before that, a later call replaces
        // the earlier one (with or without exc_info).
        if let excInfo, swpy_tuple_check(excInfo) == 0 {
            Py.raise(PyExc_RuntimeError, "exception info must be a tuple")
            return false
        }
        if headersSent {
            guard let excInfo else {
                Py.raise(PyExc_RuntimeError, "headers have already been sent")
                return false
            }
            guard swpy_tuple_size(excInfo) == 3 else {
                Py.raise(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple")
                return false
            }
            let t = swpy_tuple_get_item(excInfo, 0), v = swpy_tuple_get_item(excInfo, 1),
                tb = swpy_tuple_get_item(excInfo, 2)
            Py_XINCREF(t); Py_XINCREF(v); Py_XINCREF(tb)
            PyErr_Restore(t, v, tb == Py.none ? nil : tb)
            return false
        }
        if let events, let environ, let data = requestData() {
            events.publishResponseStarted(environ: environ, status: status, headers: headers, excInfo: excInfo,
                                          requestData: data)
        }
        guard let statusBytes = Self.validatedStatus(status) else { return false }
        guard swpy_list_check(headers) != 0 else {
            Py_DecRef(statusBytes.bytes)
            Py.raise(PyExc_TypeError, "response headers must be a list, not \(Self.typeName(headers))")
            return false
        }
        guard let flat = PyList_New(0) else { Py_DecRef(statusBytes.bytes); return false }
        var contentLength: Int64 = -1
        for i in 0..<swpy_list_size(headers) {
            let item = swpy_list_get_item(headers, i)!
            guard swpy_tuple_check(item) != 0, swpy_tuple_size(item) == 2 else {
                Py.raise(PyExc_TypeError, "response header must be a (name, value) tuple, not \(Self.typeName(item))")
                Py_DecRef(flat); Py_DecRef(statusBytes.bytes)
                return false
            }
            guard let name = Self.headerBytes(swpy_tuple_get_item(item, 0)!, isName: true),
                  let value = Self.headerBytes(swpy_tuple_get_item(item, 1)!, isName: false)
            else {
                Py_DecRef(flat); Py_DecRef(statusBytes.bytes)
                return false
            }
            if strcasecmp(swpy_bytes_as_string(name), "Content-Length") == 0 {
                guard let n = Int64(String(cString: swpy_bytes_as_string(value)).trimmingSpaces), n >= 0 else {
                    Py.raise(PyExc_ValueError, "invalid Content-Length header value")
                    Py_DecRef(name); Py_DecRef(value); Py_DecRef(flat); Py_DecRef(statusBytes.bytes)
                    return false
                }
                contentLength = n
            }
            PyList_Append(flat, name); Py_DecRef(name)
            PyList_Append(flat, value); Py_DecRef(value)
        }
        Py_XDECREF(self.status)
        Py_XDECREF(self.headers)
        self.status = statusBytes.bytes
        self.statusCode = statusBytes.code
        self.headers = flat
        self.remaining = contentLength
        return true
    }

    static func typeName(_ o: PyPointer) -> String {
        swpy_type(o).flatMap { $0.pointee.tp_name }.map { String(cString: $0) } ?? "object"
    }

    /// The status as latin-1 bytes and its code: "NNN" or "NNN reason", no control characters.
    private static func validatedStatus(_ status: PyPointer) -> (bytes: PyPointer, code: Int32)? {
        guard swpy_unicode_check(status) != 0 else {
            Py.raise(PyExc_TypeError, "expected unicode object for status, value of type \(typeName(status)) found")
            return nil
        }
        guard let bytes = PyUnicode_AsLatin1String(status) else {
            PyErr_Clear()
            Py.raise(PyExc_ValueError, "status line is not latin-1 encodable")
            return nil
        }
        let p = UnsafeRawBufferPointer(start: swpy_bytes_as_string(bytes), count: swpy_bytes_size(bytes))
        let digits = p.prefix(3)
        // As mod_wsgi: three digits, a space, a reason phrase (possibly empty) without control
        // characters; "200" alone is refused.
        let problem: String? =
            p.count < 3 || !digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) || (p.count > 3 && p[3] >= 0x30 && p[3] <= 0x39)
                ? "status code is not a 3 digit integer"
            : digits.first == 0x30 ? "status code is not a 3 digit integer"
            : p.count == 3 || p[3] != 0x20 ? "no space following status code"
            : p.contains(where: { $0 < 0x20 || $0 == 0x7f }) ? "control character present in reason phrase"
            : nil
        if let problem {
            Py_DecRef(bytes)
            Py.raise(PyExc_ValueError, problem)
            return nil
        }
        let code = Int32(digits.reduce(0) { $0 * 10 + Int($1 - 0x30) })
        return (bytes, code)
    }

    /// A header name (an HTTP token) or value (no CR, LF or NUL) as latin-1 bytes; nil with
    /// an exception set when it is not a str or not acceptable.
    private static func headerBytes(_ s: PyPointer, isName: Bool) -> PyPointer? {
        let what = isName ? "name" : "value"
        guard swpy_unicode_check(s) != 0 else {
            Py.raise(PyExc_TypeError, "expected unicode object for header \(what), value of type \(typeName(s)) found")
            return nil
        }
        guard let bytes = PyUnicode_AsLatin1String(s) else {
            PyErr_Clear()
            Py.raise(PyExc_ValueError, "header \(what) is not latin-1 encodable")
            return nil
        }
        let p = UnsafeRawBufferPointer(start: swpy_bytes_as_string(bytes), count: swpy_bytes_size(bytes))
        let ok = isName ? (!p.isEmpty && p.allSatisfy(isTokenByte)) : !p.contains(where: { $0 == 0x0d || $0 == 0x0a || $0 == 0 })
        guard ok else {
            Py_DecRef(bytes)
            Py.raise(PyExc_ValueError, isName ? "invalid character in header name"
                     : "carriage return/line feed character present in header value")
            return nil
        }
        return bytes
    }

    // MARK: sending

    /// Hands status and headers to Apache (once). Returns false with an exception set when the
    /// application never called start_response.
    func sendHeaders() -> Bool {
        if headersSent { return true }
        guard let status, let headers else {
            Py.raise(PyExc_RuntimeError, "response has not been started: the application did not call start_response()")
            return false
        }
        let n = swpy_list_size(headers) / 2
        var pairs = [swiftwsgi_kv_t](repeating: swiftwsgi_kv_t(), count: n)
        for i in 0..<n {
            pairs[i].name = UnsafePointer(swpy_bytes_as_string(swpy_list_get_item(headers, 2 * i)))
            pairs[i].value = UnsafePointer(swpy_bytes_as_string(swpy_list_get_item(headers, 2 * i + 1)))
        }
        headersSent = true
        if errorOverride && statusCode >= 400 {
            overriddenStatus = statusCode
            return true
        }
        let rc = pairs.withUnsafeBufferPointer { p in
            ops.table.set_response?(handle, statusCode, swpy_bytes_as_string(status), p.baseAddress, n) ?? -1
        }
        if rc != 0 {
            Py.raise(PyExc_RuntimeError, "Apache refused the response status or headers")
            return false
        }
        return true
    }

    /// Appends a header before the headers are sent (Content-Length for file_wrapper).
    func addHeader(_ name: String, _ value: String) {
        guard let headers, let n = PyBytes_FromString(name), let v = PyBytes_FromString(value) else { return }
        PyList_Append(headers, n); Py_DecRef(n)
        PyList_Append(headers, v); Py_DecRef(v)
    }

    /// Writes body bytes, cut to the declared Content-Length. Returns false when the client has
    /// gone (no exception set).
    func writeBody(_ data: UnsafeRawPointer, _ count: Int, flush: Bool) -> Bool {
        if clientGone || overriddenStatus != 0 { return false }
        var n = count
        if remaining >= 0 {
            n = Int(min(Int64(n), remaining))
            remaining -= Int64(n)
        }
        outputWrites += 1
        outputLength += Int64(count)
        if n == 0 && !flush { return true }
        guard let write = ops.table.write_body else { return false }
        let started = events != nil ? monotonicSeconds() : 0
        defer { if events != nil { outputTime += monotonicSeconds() - started } }
        let bytes = data.assumingMemoryBound(to: CChar.self)
        let rc = ops.buffersWrite?(handle, n, flush) == true
            ? write(handle, bytes, n, 0)
            : withoutGIL { write(handle, bytes, n, flush ? 1 : 0) }
        if rc != 0 { clientGone = true }
        return rc == 0
    }

    /// Whether the declared Content-Length has been reached.
    var complete: Bool { remaining == 0 || overriddenStatus != 0 }

    /// The legacy write() callable returned by start_response.
    func legacyWrite(_ data: PyPointer) -> Bool {
        guard sendHeaders() else { return false }
        let n = swpy_bytes_size(data)
        if n == 0 { return true }
        if overriddenStatus != 0 { return true }
        guard writeBody(swpy_bytes_as_string(data), n, flush: true) else {
            Py.raise(PyExc_OSError, "Apache/mod_swiftwsgi failed to write response data: client connection closed")
            return false
        }
        return true
    }

    /// Sends length bytes of fd from offset as an Apache file bucket.
    func sendFile(fd: Int32, offset: Int64, length: Int64, sendfile: Bool) -> Bool {
        if overriddenStatus != 0 { return true }
        outputWrites += 1
        outputLength += length
        guard let send = ops.table.send_file else { return false }
        let rc = withoutGIL { send(handle, fd, offset, length, sendfile ? 1 : 0) }
        if rc != 0 { clientGone = true }
        return rc == 0
    }
}

/// RFC 9110 token characters.
@inline(__always)
func isTokenByte(_ b: UInt8) -> Bool {
    switch b {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        return true
    default:
        return "!#$%&'*+-.^_`|~".utf8.contains(b)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
