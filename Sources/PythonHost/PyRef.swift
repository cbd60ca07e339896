@preconcurrency import CPython

/// A raw CPython object pointer. Used only inside this module and only with the GIL held.
typealias PyPointer = UnsafeMutablePointer<PyObject>

/// An owned (strong) reference to a Python object: `init(owning:)` adopts a new reference,
/// `init(retaining:)` takes a new one on a borrowed pointer; the reference is dropped when the
/// value goes out of scope. Non-copyable, so every reference has exactly one owner.
///
/// Must be created and destroyed with the GIL held: owners live inside `withGIL {}` scopes or
/// in interpreter state that is torn down under the GIL.
struct PyRef: ~Copyable {
    let pointer: PyPointer

    /// Adopts a new reference (the result of a "New reference" C API call).
    init(owning pointer: PyPointer) { self.pointer = pointer }

    /// Adopts a new reference, or nil when the call failed (a Python exception is set).
    init?(owningOrNil pointer: PyPointer?) {
        guard let pointer else { return nil }
        self.pointer = pointer
    }

    /// Takes a new reference on a borrowed pointer.
    init(retaining pointer: PyPointer) {
        Py_IncRef(pointer)
        self.pointer = pointer
    }

    deinit { Py_DecRef(pointer) }

    /// Hands the reference to the caller (e.g. to return it to CPython).
    consuming func release() -> PyPointer {
        let p = pointer
        discard self
        return p
    }
}

/// Python's singletons (address macros in C).
enum Py {
    static var none: PyPointer { swpy_none()! }
    static var `true`: PyPointer { swpy_true()! }
    static var `false`: PyPointer { swpy_false()! }

    /// A new reference to None, for returning from native methods.
    static func returnNone() -> PyPointer {
        let n = none
        Py_IncRef(n)
        return n
    }

    static func bool(_ value: Bool) -> PyPointer {
        let b = value ? `true` : `false`
        Py_IncRef(b)
        return b
    }

    /// A new str decoded from latin-1 bytes (how environ values reach Python, per PEP 3333).
    static func latin1(_ cString: UnsafePointer<CChar>) -> PyPointer? {
        PyUnicode_DecodeLatin1(cString, strlen(cString), nil)
    }

    /// A new str from a Swift string (UTF-8).
    static func string(_ s: String) -> PyPointer? {
        PyUnicode_FromString(s)
    }

    /// The UTF-8 text of a str, or nil (with the error cleared) when it is not a str.
    static func swiftString(_ o: PyPointer) -> String? {
        guard swpy_unicode_check(o) != 0, let utf8 = PyUnicode_AsUTF8(o) else {
            PyErr_Clear()
            return nil
        }
        return String(cString: utf8)
    }

    /// A new tuple that steals the given new references; nil if any is nil.
    static func tuple(_ items: [PyPointer?]) -> PyPointer? {
        guard let t = PyTuple_New(items.count) else {
            for item in items { Py_XDECREF(item) }
            return nil
        }
        var ok = true
        for (i, item) in items.enumerated() {
            if let item { PyTuple_SetItem(t, i, item) } else { ok = false }
        }
        if !ok { Py_DecRef(t); return nil }
        return t
    }

    /// Sets a Python exception of the given type.
    static func raise(_ type: PyPointer?, _ message: String) {
        PyErr_SetString(type, message)
    }
}
