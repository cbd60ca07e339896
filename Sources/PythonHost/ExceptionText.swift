@preconcurrency import CPython
import Glibc

// A Python exception as text for the log.

extension PythonRuntime {
    /// The current exception formatted like Python's own traceback print-out; clears it.
    static func formatCurrentException(interpreter: Interpreter, _ gil: borrowing GIL) -> String {
        guard let exc = Py.fetchException(gil) else { return "" }
        var text = ""
        if let format = interpreter.formatException(gil),
           let lines = PyRef(owningOrNil: swpy_call3(format, exc.type.pointer, exc.value.pointer ?? Py.none,
                                                     exc.traceback.pointer ?? Py.none)),
           let empty = Py.string("", gil), let all = PyRef(owningOrNil: PyUnicode_Join(empty.pointer, lines.pointer)) {
            text = Py.swiftString(all.pointer, gil) ?? ""
        }
        PyErr_Clear()
        if text.isEmpty, let value = exc.value.pointer, let s = PyRef(owningOrNil: PyObject_Str(value)) {
            text = Py.swiftString(s.pointer, gil) ?? "unknown error"
        }
        PyErr_Clear()
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// The current exception as one line (for set-up errors); clears it.
    static func currentExceptionText(_ gil: borrowing GIL) -> String {
        guard let exc = Py.fetchException(gil), let value = exc.value.pointer,
              let s = PyRef(owningOrNil: PyObject_Str(value))
        else { PyErr_Clear(); return "unknown error" }
        return Py.swiftString(s.pointer, gil) ?? "unknown error"
    }
}
