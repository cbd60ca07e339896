@preconcurrency import CPython

/// A raw CPython object pointer: a *borrowed* reference (valid only while something else owns
/// the object). Used only inside this module and only with the GIL held.
typealias PyPointer = UnsafeMutablePointer<PyObject>

/// An owned (strong) reference to a Python object: `init(owning:)` adopts a new reference,
/// `init(retaining:)` takes a new one on a borrowed pointer; the reference is dropped when the
/// value goes out of scope. Non-copyable, so every reference has exactly one owner, and a
/// failure path cannot forget it.
///
/// The rule of the host: a function that hands out an object returns a `PyRef` (or `PyRef?`,
/// nil with a Python exception set); a builder that stores an object (tuple, dict, list)
/// consumes the `PyRef`. Only `release()` turns one back into a raw new reference, for
/// returning it to CPython.
///
/// A named `PyRef` lives to the end of its scope, but a temporary dies right after the
/// expression that reads it: never pass `makeSomething().pointer` to a C call, bind it first.
///
/// Must be created and destroyed with the GIL held: owners live inside `withGIL {}` scopes or
/// in interpreter state that is torn down under the GIL.
struct PyRef: ~Copyable {
    let pointer: PyPointer

    /// Adopts a new reference (the result of a "New reference" C API call).
    @inline(__always) init(owning pointer: PyPointer) { self.pointer = pointer }

    /// Adopts a new reference, or nil when the call failed (a Python exception is set).
    @inline(__always) init?(owningOrNil pointer: PyPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer
    }

    /// Takes a new reference on a borrowed pointer.
    @inline(__always) init(retaining pointer: PyPointer) {
        Py_IncRef(pointer)
        self.pointer = pointer
    }

    @inline(__always) deinit { Py_DecRef(pointer) }

    /// Hands the reference to the caller: to return it to CPython, or to a C API call that
    /// steals it.
    @inline(__always) consuming func release() -> PyPointer {
        let p = pointer
        discard self
        return p
    }

    /// Another owned reference to the same object.
    @inline(__always) borrowing func retained() -> PyRef { PyRef(retaining: pointer) }

    // MARK: Python operations (with the GIL)

    /// getattr(self, name), or nil with AttributeError (or another exception) set.
    @inline(__always)
    borrowing func attribute(_ name: String, _ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyObject_GetAttrString(pointer, name))
    }

    /// self[key] = value for a dict; consumes value. False with an exception set on failure.
    @discardableResult @inline(__always)
    borrowing func setItem(_ key: String, _ value: consuming PyRef, _ gil: borrowing GIL) -> Bool {
        PyDict_SetItemString(pointer, key, value.pointer) == 0
    }

    /// self[key] = value for a dict, value borrowed (stored with a reference of its own).
    @discardableResult @inline(__always)
    borrowing func setItem(_ key: String, borrowed value: PyPointer, _ gil: borrowing GIL) -> Bool {
        PyDict_SetItemString(pointer, key, value) == 0
    }

    /// self[key] = value for a dict; consumes both.
    @discardableResult @inline(__always)
    borrowing func setItem(_ key: consuming PyRef, _ value: consuming PyRef, _ gil: borrowing GIL) -> Bool {
        PyDict_SetItem(pointer, key.pointer, value.pointer) == 0
    }

    /// self.append(item) for a list; consumes item. False with an exception set on failure.
    @discardableResult @inline(__always)
    borrowing func append(_ item: consuming PyRef, _ gil: borrowing GIL) -> Bool {
        PyList_Append(pointer, item.pointer) == 0
    }

    /// Sets item i of a tuple made by `Py.tuple(count:_:)`; consumes item (PyTuple_SetItem steals).
    @inline(__always)
    borrowing func setTupleItem(_ i: Int, _ item: consuming PyRef, _ gil: borrowing GIL) {
        PyTuple_SetItem(pointer, i, item.release())
    }
}

/// Python's singletons (address macros in C) and small constructors. Everything that returns
/// an object returns an owned `PyRef`.
enum Py {
    /// Borrowed: None, True and False live as long as the interpreter.
    static var none: PyPointer { swpy_none() }
    static var `true`: PyPointer { swpy_true() }
    static var `false`: PyPointer { swpy_false() }

    /// Adopts and drops the new reference a call returned: whether the call succeeded (false
    /// with an exception set), for calls made for their effect.
    @inline(__always)
    static func succeeded(_ result: PyPointer?, _ gil: borrowing GIL) -> Bool {
        guard let r = PyRef(owningOrNil: result) else { return false }
        _ = consume r
        return true
    }

    /// A new reference to None, for returning from native methods.
    @inline(__always)
    static func returnNone() -> PyPointer {
        let n = none
        Py_IncRef(n)
        return n
    }

    /// A new reference to True or False, for returning from native methods.
    @inline(__always)
    static func bool(_ value: Bool) -> PyPointer {
        let b = value ? `true` : `false`
        Py_IncRef(b)
        return b
    }

    /// A new str decoded from latin-1 bytes (how environ values reach Python, per PEP 3333).
    @inline(__always)
    static func latin1(_ cString: UnsafePointer<CChar>, _ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyUnicode_DecodeLatin1(cString, strlen(cString), nil))
    }

    /// A new str from a Swift string (UTF-8).
    @inline(__always)
    static func string(_ s: String, _ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyUnicode_FromString(s))
    }

    /// A new int.
    @inline(__always)
    static func int(_ v: Int, _ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyLong_FromLong(v))
    }

    /// A new bytes object holding a copy of a C string.
    @inline(__always)
    static func bytes(_ s: String, _ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyBytes_FromString(s))
    }

    /// A new, empty dict.
    @inline(__always)
    static func dict(_ gil: borrowing GIL) -> PyRef? { PyRef(owningOrNil: PyDict_New()) }

    /// A new, empty list.
    @inline(__always)
    static func list(_ gil: borrowing GIL) -> PyRef? { PyRef(owningOrNil: PyList_New(0)) }

    /// A new tuple of count empty slots, each to be filled once with `setTupleItem`.
    @inline(__always)
    static func tuple(count: Int, _ gil: borrowing GIL) -> PyRef? { PyRef(owningOrNil: PyTuple_New(count)) }

    /// A new tuple of ints.
    static func tuple(ints: [Int], _ gil: borrowing GIL) -> PyRef? {
        guard let t = tuple(count: ints.count, gil) else { return nil }
        for (i, v) in ints.enumerated() {
            guard let item = int(v, gil) else { return nil }
            t.setTupleItem(i, item, gil)
        }
        return t
    }

    /// The UTF-8 text of a str, or nil (with the error cleared) when it is not a str.
    static func swiftString(_ o: PyPointer, _ gil: borrowing GIL) -> String? {
        guard swpy_unicode_check(o) != 0, let utf8 = PyUnicode_AsUTF8(o) else {
            PyErr_Clear()
            return nil
        }
        return String(cString: utf8)
    }

    /// Sets a Python exception of the given type.
    @inline(__always)
    static func raise(_ type: PyPointer?, _ message: String, _ gil: borrowing GIL) {
        PyErr_SetString(type, message)
    }

    /// The pending exception, taken out of the thread state (owned), or nil when none is set.
    static func fetchException(_ gil: borrowing GIL) -> PendingException? {
        var type: PyPointer?, value: PyPointer?, tb: PyPointer?
        PyErr_Fetch(&type, &value, &tb)
        if type != nil { PyErr_NormalizeException(&type, &value, &tb) }
        let v = PyRef(owningOrNil: value), t = PyRef(owningOrNil: tb)
        guard let type else { return nil }
        if let value, let tb { PyException_SetTraceback(value, tb) }
        return PendingException(type: PyRef(owning: type), value: v, traceback: t)
    }
}

/// An exception fetched out of the thread state (`Py.fetchException`); the references are owned.
struct PendingException: ~Copyable {
    let type: PyRef
    let value: PyRef?
    let traceback: PyRef?

    /// Sets it as the current exception again (PyErr_Restore steals the references).
    consuming func restore(_ gil: borrowing GIL) {
        let t = type.retained().release(), v = value.pointer, tb = traceback.pointer
        if let v { Py_IncRef(v) }
        if let tb { Py_IncRef(tb) }
        PyErr_Restore(t, v, tb)
    }
}
