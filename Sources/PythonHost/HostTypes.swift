@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

typealias FastMethod = @convention(c) (PyPointer?, UnsafePointer<PyPointer?>?, Py_ssize_t) -> PyPointer?
typealias PlainMethod = @convention(c) (PyPointer?, PyPointer?) -> PyPointer?
typealias TernaryFunc = @convention(c) (PyPointer?, PyPointer?, PyPointer?) -> PyPointer?
typealias UnaryFunc = @convention(c) (PyPointer?) -> PyPointer?
typealias Destructor = @convention(c) (PyPointer?) -> Void
typealias NewFunc = @convention(c) (UnsafeMutablePointer<PyTypeObject>?, PyPointer?, PyPointer?) -> PyPointer?

/// The host's native Python types, created once per interpreter from process-wide specs:
/// `Input` (wsgi.input), `Log` (wsgi.errors, sys.stdout, sys.stderr), `StartResponse`,
/// `FileWrapper` (wsgi.file_wrapper) and `Restricted` (sys.stdin when restricted).
///
/// Instances share the `swpy_host_object` layout; `ctx` points at the running request's
/// `RequestContext` and is cleared when the request ends.
///
/// Interpreters with their own GIL (WSGIPerInterpreterGIL) must not share a type object: each
/// interpreter makes its own heap types here (PyType_FromSpec), owned by its `Interpreter`.
/// What is process-wide is plain C data CPython only reads: the `Specs` (PyType_Spec, slot,
/// PyMethodDef and PyMemberDef arrays and their names), built once (Swift's lazy globals are
/// thread-safe) and never freed or changed.
final class HostTypes {
    let input: PyRef
    let log: PyRef
    let startResponse: PyRef
    let fileWrapper: PyRef
    let restricted: PyRef

    init(_ gil: borrowing GIL) throws(HostError) {
        guard let input = PyRef(owningOrNil: PyType_FromSpec(Specs.input)),
              let log = PyRef(owningOrNil: PyType_FromSpec(Specs.log)),
              let startResponse = PyRef(owningOrNil: PyType_FromSpec(Specs.startResponse)),
              let fileWrapper = PyRef(owningOrNil: PyType_FromSpec(Specs.fileWrapper)),
              let restricted = PyRef(owningOrNil: PyType_FromSpec(Specs.restricted))
        else {
            throw HostError("cannot create the host's Python types: \(PythonRuntime.currentExceptionText(gil))")
        }
        // File-like attributes some libraries look for on sys.stderr.
        for (key, value) in [("encoding", "utf-8"), ("errors", "backslashreplace")] {
            if let v = Py.string(value, gil) { PyObject_SetAttrString(log.pointer, key, v.pointer) }
        }
        PyObject_SetAttrString(log.pointer, "closed", Py.false)
        self.input = input
        self.log = log
        self.startResponse = startResponse
        self.fileWrapper = fileWrapper
        self.restricted = restricted
    }

    /// A new instance of one of the types, or nil with MemoryError set when CPython could not
    /// allocate it.
    @inline(__always)
    private func make(_ type: borrowing PyRef, ctx: UnsafeMutableRawPointer?, _ gil: borrowing GIL) -> PyRef? {
        let tp = UnsafeMutableRawPointer(type.pointer).assumingMemoryBound(to: PyTypeObject.self)
        guard let o = PyRef(owningOrNil: PyType_GenericAlloc(tp, 0)) else { return nil }
        swpy_host(o.pointer).pointee.ctx = ctx
        return o
    }

    func makeInput(_ ctx: RequestContext, _ gil: borrowing GIL) -> PyRef? { make(input, ctx: ctx.opaque, gil) }
    func makeStartResponse(_ ctx: RequestContext, _ gil: borrowing GIL) -> PyRef? {
        make(startResponse, ctx: ctx.opaque, gil)
    }

    /// A log object: bound to a request (wsgi.errors) or, with ctx nil, to whichever request
    /// the writing thread is running (sys.stdout, sys.stderr).
    func makeLog(level: Int, name: String, ctx: RequestContext? = nil, _ gil: borrowing GIL) -> PyRef? {
        guard let o = make(log, ctx: ctx?.opaque, gil) else { return nil }
        swpy_host(o.pointer).pointee.number = level
        swpy_host(o.pointer).pointee.second = Py.string(name, gil).release()
        return o
    }

    func makeRestricted(name: String, _ gil: borrowing GIL) -> PyRef? {
        guard let o = make(restricted, ctx: nil, gil) else { return nil }
        swpy_host(o.pointer).pointee.second = Py.string(name, gil).release()
        return o
    }
}

extension Optional where Wrapped == PyRef {
    /// The borrowed pointer, or nil.
    @inline(__always)
    var pointer: PyPointer? {
        switch self {
        case .some(let r): return r.pointer
        case .none: return nil
        }
    }

    /// The raw new reference, or nil: to return to CPython or store in a slot that owns it.
    @inline(__always)
    consuming func release() -> PyPointer? {
        switch consume self {
        case .some(let r): return r.release()
        case .none: return nil
        }
    }
}

// MARK: - Type specs (process-wide, never freed: CPython keeps pointers into them)

private enum Specs {
    nonisolated(unsafe) static let input = spec("mod_swiftwsgi.Input", methods: [
        method("read", InputMethods.read),
        method("readline", InputMethods.readline),
        method("readlines", InputMethods.readlines),
        method("close", InputMethods.close),
    ], slots: [
        (Py_tp_iter, unsafeBitCast(selfIter, to: UnsafeMutableRawPointer.self)),
        (Py_tp_iternext, unsafeBitCast(InputMethods.next, to: UnsafeMutableRawPointer.self)),
    ])

    nonisolated(unsafe) static let log = spec("mod_swiftwsgi.Log", methods: [
        method("write", LogMethods.write),
        method("writelines", LogMethods.writelines),
        method("flush", LogMethods.flush),
        method("close", LogMethods.flush),
        method("isatty", LogMethods.falseMethod),
        method("readable", LogMethods.falseMethod),
        method("seekable", LogMethods.falseMethod),
        method("writable", LogMethods.trueMethod),
        method("fileno", LogMethods.fileno),
    ], slots: [
        (Py_tp_members, UnsafeMutableRawPointer(logMembers)),
    ])

    nonisolated(unsafe) static let startResponse = spec("mod_swiftwsgi.StartResponse", methods: [
        method("write", ResponseMethods.write),
    ], slots: [
        (Py_tp_call, unsafeBitCast(ResponseMethods.startResponse, to: UnsafeMutableRawPointer.self)),
    ])

    nonisolated(unsafe) static let fileWrapper = spec("mod_swiftwsgi.FileWrapper", methods: [
        method("close", FileWrapperMethods.close),
    ], slots: [
        (Py_tp_new, unsafeBitCast(FileWrapperMethods.new, to: UnsafeMutableRawPointer.self)),
        (Py_tp_iter, unsafeBitCast(selfIter, to: UnsafeMutableRawPointer.self)),
        (Py_tp_iternext, unsafeBitCast(FileWrapperMethods.next, to: UnsafeMutableRawPointer.self)),
        (Py_tp_members, UnsafeMutableRawPointer(fileWrapperMembers)),
    ])

    nonisolated(unsafe) static let restricted = spec("mod_swiftwsgi.Restricted", methods: [
        method("read", RestrictedMethods.refuse),
        method("readline", RestrictedMethods.refuse),
        method("readlines", RestrictedMethods.refuse),
        method("write", RestrictedMethods.refuse),
        method("writelines", RestrictedMethods.refuse),
        method("fileno", RestrictedMethods.refuse),
        method("flush", LogMethods.noneMethod),
        method("isatty", LogMethods.falseMethod),
    ], slots: [
        (Py_tp_iter, unsafeBitCast(RestrictedMethods.refuseUnary, to: UnsafeMutableRawPointer.self)),
    ])

    nonisolated(unsafe) static let fileWrapperMembers: UnsafeMutablePointer<PyMemberDef> = {
        let m = UnsafeMutablePointer<PyMemberDef>.allocate(capacity: 3)
        m[0] = PyMemberDef(name: strdup("filelike"), type: T_OBJECT, offset: swpy_host_first_offset(),
                           flags: READONLY, doc: nil)
        m[1] = PyMemberDef(name: strdup("blksize"), type: T_PYSSIZET, offset: swpy_host_number_offset(),
                           flags: READONLY, doc: nil)
        m[2] = PyMemberDef()
        return m
    }()

    /// `name` ("<stderr>", "wsgi.errors"), as file objects have.
    nonisolated(unsafe) static let logMembers: UnsafeMutablePointer<PyMemberDef> = {
        let m = UnsafeMutablePointer<PyMemberDef>.allocate(capacity: 2)
        m[0] = PyMemberDef(name: strdup("name"), type: T_OBJECT,
                           offset: swpy_host_first_offset() + MemoryLayout<PyPointer?>.stride,
                           flags: READONLY, doc: nil)
        m[1] = PyMemberDef()
        return m
    }()

    static func method(_ name: String, _ f: FastMethod) -> PyMethodDef {
        PyMethodDef(ml_name: strdup(name), ml_meth: unsafeBitCast(f, to: PyCFunction.self),
                    ml_flags: METH_FASTCALL, ml_doc: nil)
    }

    static func spec(_ name: String, methods: [PyMethodDef], slots: [(Int32, UnsafeMutableRawPointer)])
        -> UnsafeMutablePointer<PyType_Spec>
    {
        let defs = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: methods.count + 1)
        for (i, m) in methods.enumerated() { defs[i] = m }
        defs[methods.count] = PyMethodDef()
        var all = slots
        all.append((Py_tp_dealloc, unsafeBitCast(dealloc, to: UnsafeMutableRawPointer.self)))
        all.append((Py_tp_methods, UnsafeMutableRawPointer(defs)))
        let slotArray = UnsafeMutablePointer<PyType_Slot>.allocate(capacity: all.count + 1)
        for (i, s) in all.enumerated() { slotArray[i] = PyType_Slot(slot: s.0, pfunc: s.1) }
        slotArray[all.count] = PyType_Slot(slot: 0, pfunc: nil)
        let spec = UnsafeMutablePointer<PyType_Spec>.allocate(capacity: 1)
        spec.pointee = PyType_Spec(name: strdup(name), basicsize: swpy_host_object_size(), itemsize: 0,
                                   flags: UInt32(Py_TPFLAGS_DEFAULT), slots: slotArray)
        return spec
    }
}

private let dealloc: Destructor = { o in
    guard let o else { return }
    // The slots and the instance's reference to its heap type are owned: adopt and drop them.
    let tp = swpy_type(o)
    _ = PyRef(owningOrNil: swpy_host(o).pointee.first)
    _ = PyRef(owningOrNil: swpy_host(o).pointee.second)
    PyObject_Free(o)
    if let tp { _ = PyRef(owning: UnsafeMutableRawPointer(tp).assumingMemoryBound(to: PyObject.self)) }
}

private let selfIter: UnaryFunc = { o in
    guard let o else { return nil }
    return PyRef(retaining: o).release()
}

/// The request an object belongs to, or nil with RuntimeError set when it has ended.
@inline(__always)
func requestContext(_ o: PyPointer?, _ gil: borrowing GIL) -> RequestContext? {
    guard let o, let ctx = swpy_host(o).pointee.ctx else {
        Py.raise(PyExc_RuntimeError, "the WSGI request this object belongs to has finished", gil)
        return nil
    }
    return Unmanaged<RequestContext>.fromOpaque(ctx).takeUnretainedValue()
}

/// Positional argument i, or nil when absent or None.
@inline(__always)
func argument(_ args: UnsafePointer<PyPointer?>?, _ count: Py_ssize_t, _ i: Int) -> PyPointer? {
    guard i < count, let a = args?[i], a != Py.none else { return nil }
    return a
}

/// A size argument: absent, None or negative mean "no limit" (-1).
func sizeArgument(_ args: UnsafePointer<PyPointer?>?, _ count: Py_ssize_t, _ i: Int, _ gil: borrowing GIL) -> Int? {
    guard let a = argument(args, count, i) else { return -1 }
    guard swpy_long_check(a) != 0 else {
        Py.raise(PyExc_TypeError, "integer argument expected", gil)
        return nil
    }
    let v = PyLong_AsSsize_t(a)
    if v == -1, PyErr_Occurred() != nil { return nil }
    return v < 0 ? -1 : v
}

private enum InputMethods {
    static let read: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil), let size = sizeArgument(args, n, 0, gil) else { return nil }
        return ctx.input.read(size, &gil).release()
    }
    static let readline: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil), let size = sizeArgument(args, n, 0, gil) else { return nil }
        return ctx.input.readline(size, &gil).release()
    }
    static let readlines: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil), let hint = sizeArgument(args, n, 0, gil) else { return nil }
        return ctx.input.readlines(hint, &gil).release()
    }
    static let close: FastMethod = { _, _, _ in Py.returnNone() }
    static let next: UnaryFunc = { o in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil), let line = ctx.input.readline(-1, &gil) else { return nil }
        if swpy_bytes_size(line.pointer) == 0 { return nil }  // StopIteration
        return line.release()
    }
}

enum LogMethods {
    /// write(text) or write(bytes-like): a log is also the binary buffer under sys.stdout and
    /// sys.stderr (their TextIOWrapper hands it UTF-8 bytes). Returns the count written, as
    /// io's write() does (callers such as Mercurial loop until everything is written).
    static let write: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let o, n == 1, let s = args?[0] else {
            Py.raise(PyExc_TypeError, "write() takes exactly one argument", gil)
            return nil
        }
        return write(o, s, &gil).release()
    }

    /// One write(): the count written (new reference), or nil with an exception set.
    static func write(_ o: PyPointer, _ s: PyPointer, _ gil: inout GIL) -> PyRef? {
        if swpy_unicode_check(s) != 0 {
            LogObject(o).write(s, &gil)
            return PyRef(owningOrNil: PyLong_FromSsize_t(PyUnicode_GetLength(s)))
        }
        var view = Py_buffer()
        guard PyObject_GetBuffer(s, &view, PyBUF_SIMPLE) == 0 else {
            PyErr_Clear()
            Py.raise(PyExc_TypeError, "log.write() argument must be str or a bytes-like object, not \(RequestContext.typeName(s))", gil)
            return nil
        }
        let count = view.len
        let decoded = PyRef(owningOrNil: PyUnicode_DecodeUTF8(view.buf?.assumingMemoryBound(to: CChar.self), count, "replace"))
        PyBuffer_Release(&view)
        guard let text = decoded else { return nil }
        LogObject(o).write(text.pointer, &gil)
        return PyRef(owningOrNil: PyLong_FromSsize_t(count))
    }

    /// No descriptor behind a log: io.UnsupportedOperation (an OSError), as io raises for
    /// streams without one.
    static let fileno: FastMethod = { _, _, _ in
        let gil = GIL.cpythonCalledUs()
        let message = "Apache/mod_wsgi log object is not associated with a file descriptor."
        if let io = PyRef(owningOrNil: PyImport_ImportModule("io")),
           let unsupported = io.attribute("UnsupportedOperation", gil) {
            Py.raise(unsupported.pointer, message, gil)
            return nil
        }
        PyErr_Clear()
        Py.raise(PyExc_OSError, message, gil)
        return nil
    }
    static let writelines: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let o, n == 1, let seq = args?[0], let it = PyRef(owningOrNil: PyObject_GetIter(seq)) else {
            if PyErr_Occurred() == nil { Py.raise(PyExc_TypeError, "writelines() takes an iterable", gil) }
            return nil
        }
        while let item = PyRef(owningOrNil: PyIter_Next(it.pointer)) {
            guard let written = write(o, item.pointer, &gil) else { return nil }
            _ = consume written
        }
        return PyErr_Occurred() == nil ? Py.returnNone() : nil
    }
    static let flush: FastMethod = { o, _, _ in
        var gil = GIL.cpythonCalledUs()
        if let o { LogObject(o).flush(&gil) }
        return Py.returnNone()
    }
    static let falseMethod: FastMethod = { _, _, _ in Py.bool(false) }
    static let trueMethod: FastMethod = { _, _, _ in Py.bool(true) }
    static let noneMethod: FastMethod = { _, _, _ in Py.returnNone() }
}

/// A Log instance: text is buffered (in `first`) until a newline, then each complete line goes
/// to Apache's error log, tagged with the request.
struct LogObject {
    let o: PyPointer
    init(_ o: PyPointer) { self.o = o }

    /// The partial line kept from earlier writes, taken out of the object (owned).
    private func takePending(_ gil: borrowing GIL) -> PyRef? {
        let pending = PyRef(owningOrNil: swpy_host(o).pointee.first)
        swpy_host(o).pointee.first = nil
        return pending
    }

    func write(_ s: PyPointer, _ gil: inout GIL) {
        var text = PyRef(retaining: s)
        if let pending = takePending(gil), let joined = PyRef(owningOrNil: PyUnicode_Concat(pending.pointer, s)) {
            text = joined
        }
        guard let swiftText = Py.swiftString(text.pointer, gil) else { return }
        guard let lastNewline = swiftText.lastIndex(of: "\n") else {
            swpy_host(o).pointee.first = text.release()  // keep the partial line
            return
        }
        let complete = String(swiftText[..<lastNewline])
        let rest = swiftText[swiftText.index(after: lastNewline)...]
        if !rest.isEmpty { swpy_host(o).pointee.first = Py.string(String(rest), gil).release() }
        emit(complete, &gil)
    }

    func flush(_ gil: inout GIL) {
        guard let pending = takePending(gil) else { return }
        if let text = Py.swiftString(pending.pointer, gil), !text.isEmpty { emit(text, &gil) }
    }

    private func emit(_ lines: String, _ gil: inout GIL) {
        let level = swpy_host(o).pointee.number
        let handle: swiftwsgi_request_handle_t?
        if let ctx = swpy_host(o).pointee.ctx {
            handle = Unmanaged<RequestContext>.fromOpaque(ctx).takeUnretainedValue().handle
        } else {
            handle = ThreadStates.existing()?.currentRequest?.handle
        }
        guard let ops = PythonRuntime.shared?.apache else { return }
        gil.released { ops.log(handle, level, .applicationOutput, lines, $0) }
    }
}

private enum RestrictedMethods {
    static func message(_ o: PyPointer?, _ gil: borrowing GIL) -> String {
        let name = o.flatMap { swpy_host($0).pointee.second }.flatMap { Py.swiftString($0, gil) } ?? "stream"
        return "\(name) access restricted by mod_wsgi"
    }
    static let refuse: FastMethod = { o, _, _ in
        let gil = GIL.cpythonCalledUs()
        Py.raise(PyExc_OSError, message(o, gil), gil)
        return nil
    }
    static let refuseUnary: UnaryFunc = { o in
        let gil = GIL.cpythonCalledUs()
        Py.raise(PyExc_OSError, message(o, gil), gil)
        return nil
    }
}

private enum ResponseMethods {
    nonisolated(unsafe) static let startResponse: TernaryFunc = { o, args, kwargs in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil), let args else { return nil }
        var exc: PyPointer? = nil
        if let kwargs, PyDict_Size(kwargs) > 0 {
            exc = PyDict_GetItemString(kwargs, "exc_info")
            if PyDict_Size(kwargs) > (exc == nil ? 0 : 1) {
                Py.raise(PyExc_TypeError, "start_response() got an unexpected keyword argument", gil)
                return nil
            }
        }
        let n = PyTuple_Size(args)
        guard n == 2 || (n == 3 && exc == nil) else {
            Py.raise(PyExc_TypeError, "start_response() takes 2 or 3 arguments (\(n) given)", gil)
            return nil
        }
        if n == 3 { exc = swpy_tuple_get_item(args, 2) }
        if exc == Py.none { exc = nil }
        guard let status = swpy_tuple_get_item(args, 0), let headers = swpy_tuple_get_item(args, 1) else {
            Py.raise(PyExc_TypeError, "start_response() takes 2 or 3 arguments", gil)
            return nil
        }
        guard ctx.startResponse(status: status, headers: headers, excInfo: exc, &gil) else { return nil }
        return PyObject_GetAttrString(o, "write")
    }
    static let write: FastMethod = { o, args, n in
        var gil = GIL.cpythonCalledUs()
        guard let ctx = requestContext(o, gil) else { return nil }
        guard n == 1, let data = args?[0], swpy_bytes_check(data) != 0 else {
            Py.raise(PyExc_TypeError, "write() argument must be a byte string", gil)
            return nil
        }
        return ctx.legacyWrite(data, &gil) ? Py.returnNone() : nil
    }
}

private enum FileWrapperMethods {
    static let new: NewFunc = { type, args, kwargs in
        let gil = GIL.cpythonCalledUs()
        guard let type, let args else { return nil }
        var filelike: PyPointer?
        var blksize = 8192
        let n = PyTuple_Size(args)
        if n >= 1 { filelike = swpy_tuple_get_item(args, 0) }
        var sizeObject: PyPointer? = n >= 2 ? swpy_tuple_get_item(args, 1) : nil
        if let kwargs {
            if filelike == nil { filelike = PyDict_GetItemString(kwargs, "filelike") }
            if sizeObject == nil { sizeObject = PyDict_GetItemString(kwargs, "blksize") }
        }
        guard let filelike, n <= 2 else {
            Py.raise(PyExc_TypeError, "file_wrapper(filelike, blksize=8192)", gil)
            return nil
        }
        if let sizeObject {
            let v = PyLong_AsSsize_t(sizeObject)
            if v == -1, PyErr_Occurred() != nil { return nil }
            guard v > 0 else {
                Py.raise(PyExc_ValueError, "file_wrapper blksize must be positive", gil)
                return nil
            }
            blksize = v
        }
        guard let o = PyType_GenericAlloc(type, 0) else { return nil }
        swpy_host(o).pointee.first = PyRef(retaining: filelike).release()
        swpy_host(o).pointee.number = blksize
        return o
    }
    static let next: UnaryFunc = { o in
        let gil = GIL.cpythonCalledUs()
        guard let o, let filelike = swpy_host(o).pointee.first,
              let data = PyRef(owningOrNil: swpy_call_method_n(filelike, "read", swpy_host(o).pointee.number))
        else { return nil }
        // An empty read ends the iteration (StopIteration).
        if swpy_bytes_check(data.pointer) != 0 && swpy_bytes_size(data.pointer) == 0 { return nil }
        if swpy_unicode_check(data.pointer) != 0 && PyUnicode_GetLength(data.pointer) == 0 { return nil }
        return data.release()
    }
    static let close: FastMethod = { o, _, _ in
        let gil = GIL.cpythonCalledUs()
        guard let o, let filelike = swpy_host(o).pointee.first else { return Py.returnNone() }
        if PyObject_HasAttrString(filelike, "close") != 0 {
            guard Py.succeeded(swpy_call_method0(filelike, "close"), gil) else { return nil }
        }
        return Py.returnNone()
    }
}
