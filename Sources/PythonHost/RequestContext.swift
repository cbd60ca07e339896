@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

/// The state of one running request, reached from its Python objects through their `ctx`.
/// With the GIL held, except where it is released around Apache calls. Used by the one thread
/// running the request, in one interpreter (its Python objects are that interpreter's, so no
/// thread of another interpreter can reach it); with an own GIL "the GIL" is that interpreter's.
final class RequestContext {
    let handle: swiftwsgi_request_handle_t
    let ops: ApacheOps
    let input: RequestInput
    /// `"200 OK"` as latin-1 bytes once start_response was called.
    private var status: PyRef?
    private var statusCode: Int32 = 0
    /// Header names and values, alternating, as latin-1 bytes.
    private var headers: PyRef?
    /// The response was committed: start_response's status and headers can no longer change.
    private(set) var headersSent = false
    /// Committed headers not handed to Apache yet: they go with the next Apache call (a body
    /// write, a file), so the GIL is released once for both. Pointers into `headers` and
    /// `status`, which this request owns (immutable bytes objects).
    private var pendingHeaders: [swiftwsgi_kv_t]?
    /// Embedded mode: this thread's held output, once the request held something (see
    /// HeldOutput); nil in daemon mode, whose operations buffer themselves.
    private var held: HeldOutput?
    /// Bytes still allowed by the application's Content-Length, or -1 when it set none.
    private(set) var remaining: Int64 = -1
    /// The application's Content-Length, or -1 when it set none.
    private(set) var declaredLength: Int64 = -1
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
    private var requestDataDict: PyRef?
    /// request-timeout's handle on a daemon request (nil in embedded mode).
    var interrupt: RequestInterrupt?
    /// The interpreter's module when events are published for this request (someone had
    /// subscribed when it began): response_started goes there, and output is timed.
    var events: ModWSGIModule?
    /// For request_finished: body writes, bytes the application produced, seconds writing.
    private(set) var outputWrites = 0
    private(set) var outputLength: Int64 = 0
    private(set) var outputTime = 0.0
    /// Output is timed also without events (for WSGITelemetryService's and request_metrics()' output_write_time).
    var timesOutput = false

    /// The request's scratchpad dict (borrowed: the request owns it), created on first use.
    func requestData(_ gil: borrowing GIL) -> PyPointer? {
        if requestDataDict.pointer == nil { requestDataDict = Py.dict(gil) }
        return requestDataDict.pointer
    }

    /// The HTTP status the application set (0 before start_response).
    var responseStatus: Int32 { statusCode }

    init(handle: swiftwsgi_request_handle_t, ops: ApacheOps, errorOverride: Bool = false) {
        self.handle = handle
        self.ops = ops
        self.errorOverride = errorOverride
        self.input = RequestInput(handle: handle, ops: ops)
    }

    /// Drops the Python objects this request holds, at the request's end.
    func release(_ gil: borrowing GIL) {
        pendingHeaders = nil
        status = nil
        headers = nil
        requestDataDict = nil
        environ = nil
        events = nil
    }

    var started: Bool { status.pointer != nil }

    // MARK: start_response

    /// start_response(status, headers, exc_info=None). Returns false with an exception set.
    func startResponse(status: PyPointer, headers: PyPointer, excInfo: PyPointer?, _ gil: inout GIL) -> Bool {
        // mod_wsgi's rules: exc_info must be a tuple; once the headers went out, a call with
        // exc_info re-raises it and one without fails; before that, a later call replaces
        // the earlier one (with or without exc_info).
        if let excInfo, swpy_tuple_check(excInfo) == 0 {
            Py.raise(PyExc_RuntimeError, "exception info must be a tuple", gil)
            return false
        }
        if headersSent {
            guard let excInfo else {
                Py.raise(PyExc_RuntimeError, "headers have already been sent", gil)
                return false
            }
            guard swpy_tuple_size(excInfo) == 3, let t = swpy_tuple_get_item(excInfo, 0),
                  let v = swpy_tuple_get_item(excInfo, 1), let tb = swpy_tuple_get_item(excInfo, 2)
            else {
                Py.raise(PyExc_TypeError, "exc_info must be a (type, value, traceback) tuple", gil)
                return false
            }
            // PEP 3333: re-raise the application's exception; the response cannot change.
            // PyErr_Restore steals all three.
            PyErr_Restore(PyRef(retaining: t).release(), PyRef(retaining: v).release(),
                          tb == Py.none ? nil : PyRef(retaining: tb).release())
            return false
        }
        if let events, let environ, let data = requestData(gil) {
            events.publishResponseStarted(environ: environ, status: status, headers: headers, excInfo: excInfo,
                                          requestData: data, &gil)
        }
        guard let statusBytes = Self.validatedStatus(status, gil) else { return false }
        guard swpy_list_check(headers) != 0 else {
            Py.raise(PyExc_TypeError, "response headers must be a list, not \(Self.typeName(headers))", gil)
            return false
        }
        guard let flat = Py.list(gil) else { return false }
        var contentLength: Int64 = -1
        for i in 0..<swpy_list_size(headers) {
            guard let item = swpy_list_get_item(headers, i) else {
                Py.raise(PyExc_RuntimeError, "response header \(i) is missing", gil)
                return false
            }
            guard swpy_tuple_check(item) != 0, swpy_tuple_size(item) == 2,
                  let nameObject = swpy_tuple_get_item(item, 0), let valueObject = swpy_tuple_get_item(item, 1)
            else {
                Py.raise(PyExc_TypeError, "response header must be a (name, value) tuple, not \(Self.typeName(item))", gil)
                return false
            }
            guard let name = Self.headerBytes(nameObject, isName: true, gil),
                  let value = Self.headerBytes(valueObject, isName: false, gil)
            else { return false }
            if strcasecmp(swpy_bytes_as_string(name.pointer), "Content-Length") == 0 {
                guard let n = ResponseRules.contentLength(String(cString: swpy_bytes_as_string(value.pointer))) else {
                    Py.raise(PyExc_ValueError, "invalid Content-Length header value", gil)
                    return false
                }
                contentLength = n
            }
            guard flat.append(name, gil), flat.append(value, gil) else { return false }
        }
        self.statusCode = statusBytes.code
        self.status = statusBytes.take()
        self.headers = consume flat
        self.remaining = contentLength
        self.declaredLength = contentLength
        return true
    }

    static func typeName(_ o: PyPointer) -> String {
        swpy_type(o).flatMap { $0.pointee.tp_name }.map { String(cString: $0) } ?? "object"
    }

    /// A validated status line: latin-1 bytes and the numeric code.
    private struct Status: ~Copyable {
        let bytes: PyRef
        let code: Int32
        consuming func take() -> PyRef { bytes }
    }

    /// The status as latin-1 bytes and its code: "NNN" or "NNN reason", no control characters.
    private static func validatedStatus(_ status: PyPointer, _ gil: borrowing GIL) -> Status? {
        guard swpy_unicode_check(status) != 0 else {
            Py.raise(PyExc_TypeError, "expected unicode object for status, value of type \(typeName(status)) found", gil)
            return nil
        }
        guard let bytes = PyRef(owningOrNil: PyUnicode_AsLatin1String(status)) else {
            PyErr_Clear()
            Py.raise(PyExc_ValueError, "status line is not latin-1 encodable", gil)
            return nil
        }
        let p = UnsafeRawBufferPointer(start: swpy_bytes_as_string(bytes.pointer), count: swpy_bytes_size(bytes.pointer))
        if let problem = ResponseRules.statusProblem(p) {
            Py.raise(PyExc_ValueError, problem, gil)
            return nil
        }
        let code = ResponseRules.statusCode(p)
        return Status(bytes: bytes, code: code)
    }

    /// A header name (an HTTP token) or value (no CR, LF or NUL) as latin-1 bytes; nil with
    /// an exception set when it is not a str or not acceptable.
    private static func headerBytes(_ s: PyPointer, isName: Bool, _ gil: borrowing GIL) -> PyRef? {
        let what = isName ? "name" : "value"
        guard swpy_unicode_check(s) != 0 else {
            Py.raise(PyExc_TypeError, "expected unicode object for header \(what), value of type \(typeName(s)) found", gil)
            return nil
        }
        guard let bytes = PyRef(owningOrNil: PyUnicode_AsLatin1String(s)) else {
            PyErr_Clear()
            Py.raise(PyExc_ValueError, "header \(what) is not latin-1 encodable", gil)
            return nil
        }
        let p = UnsafeRawBufferPointer(start: swpy_bytes_as_string(bytes.pointer), count: swpy_bytes_size(bytes.pointer))
        if let problem = ResponseRules.headerProblem(p, isName: isName) {
            Py.raise(PyExc_ValueError, problem, gil)
            return nil
        }
        return bytes
    }

    // MARK: sending

    /// Commits status and headers (once): they reach Apache with the next body write or file,
    /// or through `deliverHeaders`. Returns false with an exception set when the application
    /// never called start_response.
    func sendHeaders(_ gil: borrowing GIL) -> Bool {
        if headersSent { return true }
        guard let headers = headers.pointer else {
            Py.raise(PyExc_RuntimeError, "response has not been started: the application did not call start_response()", gil)
            return false
        }
        headersSent = true
        if errorOverride && statusCode >= 400 {
            overriddenStatus = statusCode
            return true
        }
        let n = swpy_list_size(headers) / 2
        var pairs = [swiftwsgi_kv_t](repeating: swiftwsgi_kv_t(), count: n)
        for i in 0..<n {
            pairs[i].name = UnsafePointer(swpy_bytes_as_string(swpy_list_get_item(headers, 2 * i)))
            pairs[i].value = UnsafePointer(swpy_bytes_as_string(swpy_list_get_item(headers, 2 * i + 1)))
        }
        pendingHeaders = pairs
        return true
    }

    /// Hands committed headers to Apache now if they are still pending. Returns false with an
    /// exception set when Apache refused them.
    func deliverHeaders(_ gil: inout GIL) -> Bool {
        guard pendingHeaders != nil else { return true }
        if hold(nil, 0, gil) { return true }
        let refused = gil.released { deliverHeld($0) == -2 || !handOver($0) }
        if refused {
            Py.raise(PyExc_RuntimeError, "Apache refused the response status or headers", gil)
            return false
        }
        return true
    }

    /// Calls Apache's set_response with the pending headers (without the GIL: the bytes they
    /// point into are owned by this request and immutable). False when Apache refused them.
    private func handOver(_ unlocked: borrowing Unlocked) -> Bool {
        guard let pairs = pendingHeaders, let line = status.pointer else { return true }
        pendingHeaders = nil
        let rc = pairs.withUnsafeBufferPointer { p in
            ops.setResponse(handle, statusCode, swpy_bytes_as_string(line), p.baseAddress, p.count, unlocked)
        }
        return rc == 0
    }

    /// Embedded mode: holds the pending headers (if any) and n bytes of data in this thread's
    /// HeldOutput instead of handing them to Apache now. False when they do not fit or the
    /// operations buffer by themselves (daemon mode); then nothing more was held.
    private func hold(_ data: UnsafeRawPointer?, _ n: Int, _ gil: borrowing GIL) -> Bool {
        if ops.buffersOwnWrites { return false }
        let buffer: HeldOutput
        if let held {
            buffer = held
        } else {
            guard let states = ThreadStates.existing() else { return false }
            let b = states.heldOutput ?? HeldOutput()
            states.heldOutput = b
            guard b.isEmpty else { return false }  // another request's, never delivered: leave it
            held = b
            buffer = b
        }
        if let pairs = pendingHeaders {
            guard buffer.isEmpty, buffer.fits(n), let line = status.pointer,
                  pairs.withUnsafeBufferPointer({ buffer.holdHeaders(status: statusCode, line: swpy_bytes_as_string(line), $0) })
            else { return false }
            pendingHeaders = nil
        }
        guard n > 0, let data else { return true }
        return buffer.holdBody(data, n)
    }

    /// Hands the held output to Apache (without the GIL), before anything else is written:
    /// 0, -2 when Apache refused the headers, -1 when the client is gone.
    private func deliverHeld(_ unlocked: borrowing Unlocked) -> Int32 {
        guard let held, !held.isEmpty else { return 0 }
        return held.deliver(ops, handle, unlocked)
    }

    /// At the end of the request's Python work, with the GIL released: hands over what is
    /// still held. Returns status, or 500 when Apache refused the held headers (logged).
    func deliverHeldOutput(_ status: Int32, _ unlocked: borrowing Unlocked) -> Int32 {
        switch deliverHeld(unlocked) {
        case -2:
            ops.logError(handle, .responseRefused, "Apache refused the response status or headers", unlocked)
            return status == 0 ? 500 : status
        case -1:
            clientGone = true
            return status
        default:
            return status
        }
    }

    /// Appends a header before the headers are sent (Content-Length for file_wrapper).
    func addHeader(_ name: String, _ value: String, _ gil: borrowing GIL) {
        guard let headers = headers.pointer, let n = Py.bytes(name, gil), let v = Py.bytes(value, gil) else { return }
        PyList_Append(headers, n.pointer)
        PyList_Append(headers, v.pointer)
    }

    /// The result of a body write.
    enum Written { case ok, clientGone, refused }

    /// Writes body bytes, cut to the declared Content-Length, after the committed headers if
    /// they are still pending. `.refused` comes with an exception set.
    func writeBody(_ data: UnsafeRawPointer, _ count: Int, flush: Bool, _ gil: inout GIL) -> Written {
        if clientGone || overriddenStatus != 0 { return .clientGone }
        var n = count
        if remaining >= 0 {
            n = Int(min(Int64(n), remaining))
            remaining -= Int64(n)
        }
        outputWrites += 1
        outputLength += Int64(count)
        // Bytes beyond the Content-Length are dropped (as mod_wsgi; the run logs the mismatch).
        if n == 0 && pendingHeaders == nil && (!flush || remaining == 0) { return .ok }
        let bytes = data.assumingMemoryBound(to: CChar.self)
        let timed = events != nil || timesOutput
        let started = timed ? monotonicSeconds() : 0
        defer { if timed { outputTime += monotonicSeconds() - started } }
        if !flush, let pairs = pendingHeaders, let line = status.pointer,
           let rc = pairs.withUnsafeBufferPointer({
               ops.setResponseBuffered(handle, statusCode, swpy_bytes_as_string(line), $0, reserving: n, gil)
           }) {
            // Daemon mode: headers and these bytes fit in the output buffer, no GIL release.
            pendingHeaders = nil
            if rc != 0 {
                Py.raise(PyExc_RuntimeError, "Apache refused the response status or headers", gil)
                return .refused
            }
        }
        // Embedded mode: small, unflushed output waits for the GIL's next release.
        if !flush && hold(bytes, n, gil) { return .ok }
        let rc: Int32
        if !flush && pendingHeaders == nil && held == nil, let buffered = ops.writeBuffered(handle, bytes, n, gil) {
            rc = buffered
        } else {
            rc = gil.released { unlocked in
                let delivered = deliverHeld(unlocked)
                if delivered != 0 { return delivered }
                guard handOver(unlocked) else { return -2 }
                if n == 0 && !flush { return 0 }
                return ops.writeBody(handle, bytes, n, flush: flush, unlocked)
            }
        }
        if rc == -2 {
            Py.raise(PyExc_RuntimeError, "Apache refused the response status or headers", gil)
            return .refused
        }
        if rc != 0 { clientGone = true }
        return rc == 0 ? .ok : .clientGone
    }

    /// Whether nothing more can be sent: Apache answers with its own error page
    /// (WSGIErrorOverride). Past a Content-Length the application's iterable is still consumed
    /// to its end, as mod_wsgi does.
    var complete: Bool { overriddenStatus != 0 }

    /// The legacy write() callable returned by start_response.
    func legacyWrite(_ data: PyPointer, _ gil: inout GIL) -> Bool {
        guard sendHeaders(gil) else { return false }
        let n = swpy_bytes_size(data)
        if n == 0 { return deliverHeaders(&gil) }
        if overriddenStatus != 0 { return true }
        switch writeBody(swpy_bytes_as_string(data), n, flush: true, &gil) {
        case .ok: return true
        case .refused: return false
        case .clientGone:
            Py.raise(PyExc_OSError, "Apache/mod_swiftwsgi failed to write response data: client connection closed", gil)
            return false
        }
    }

    /// Sends length bytes of fd from offset as an Apache file bucket, after the committed
    /// headers. False when it failed (no exception set).
    func sendFile(fd: Int32, offset: Int64, length: Int64, sendfile: Bool, _ gil: inout GIL) -> Bool {
        if overriddenStatus != 0 { return true }
        outputWrites += 1
        outputLength += length
        let rc = gil.released { unlocked in
            guard deliverHeld(unlocked) == 0, handOver(unlocked) else { return Int32(-1) }
            return ops.sendFile(handle, fd, offset, length, sendfile: sendfile, unlocked)
        }
        if rc != 0 { clientGone = true }
        return rc == 0
    }

    /// Aborts the client connection (a truncated response must not look complete).
    func abortConnection(_ gil: inout GIL) {
        gil.released { unlocked in
            // What the application had sent goes out first: the client sees it cut short.
            _ = deliverHeld(unlocked)
            ops.abortConnection(handle, unlocked)
        }
    }
}
