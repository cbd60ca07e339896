@preconcurrency import CPython
import Glibc
import Synchronization

/// One Python interpreter: the main one (application group `%{GLOBAL}`, name "") or a
/// sub-interpreter of a named application group, created on first use and kept for the life of
/// the process.
///
/// Python objects it holds are touched only with its GIL held. `scripts` is guarded by the GIL
/// as well; `loading` serialises script (re)loads and is always taken before the GIL.
final class Interpreter: @unchecked Sendable {
    let name: String
    let ordinal: Int
    let state: OpaquePointer
    let types: HostTypes
    /// environ entries that are the same for every request of this interpreter.
    let environTemplate: PyPointer
    /// Scripts loaded in this interpreter, by path.
    var scripts: [String: LoadedScript] = [:]
    let loading = Mutex<Void>(())
    /// The `traceback` module, for logging exceptions.
    let formatException: PyPointer?
    /// Its `mod_wsgi` module (event subscribers, helpers); set once at creation.
    private(set) var modWSGI: ModWSGIModule!
    /// The requests it is running (for mod_wsgi.active_requests); with the GIL held.
    var running: [RequestContext] = []

    /// Sets up the interpreter current on this thread. With the GIL held.
    init(name: String, ordinal: Int, config: ProcessConfig) throws(HostError) {
        self.name = name
        self.ordinal = ordinal
        guard let interp = PyInterpreterState_Get() else { throw HostError("no interpreter state") }
        self.state = interp
        self.types = try HostTypes()
        try config.installModules(name: name, types: types)
        self.environTemplate = try config.makeEnvironTemplate(applicationGroup: name, types: types)
        let traceback = PyImport_ImportModule("traceback")
        self.formatException = traceback.flatMap { PyObject_GetAttrString($0, "format_exception") }
        if let traceback { Py_DecRef(traceback) }
        PyErr_Clear()
        self.modWSGI = try ModWSGIModule(config: config, applicationGroup: name, types: types,
                                         interpreter: Unmanaged.passUnretained(self).toOpaque())
    }

    /// The script module for path: loaded on first use and reloaded when its mtime changed
    /// (when reloading is on). With the GIL held; may drop it while waiting for another thread's
    /// load of the same interpreter.
    func script(path: String, mtime: Int64, reloading: Bool, log: (String) -> Void) -> PyPointer? {
        if let s = scripts[path], !reloading || s.mtime == mtime { return s.module.pointer }
        // Lock order: the host lock before the GIL. Release the GIL to wait, then take it back.
        return withoutGILLocked {
            if let s = scripts[path], !reloading || s.mtime == mtime { return s.module.pointer }
            return load(path: path, mtime: mtime, replacing: scripts[path] != nil, log: log)
        }
    }

    private func withoutGILLocked<R>(_ body: () -> R) -> R {
        let tstate = PyEval_SaveThread()
        return loading.withLock { _ in
            PyEval_RestoreThread(tstate)
            return body()
        }
    }

    /// Executes the script as a module named like mod_wsgi's, `_mod_wsgi_` + md5 of its path.
    private func load(path: String, mtime: Int64, replacing: Bool, log: (String) -> Void) -> PyPointer? {
        let moduleName = PythonRuntime.moduleName(forScript: path)
        let modules = PyImport_GetModuleDict()!
        if replacing {
            log("Reloading WSGI script '\(path)'.")
            if PyDict_DelItemString(modules, moduleName) != 0 { PyErr_Clear() }
            // A daemon process is replaced as well, so no state of the old code survives; this
            // request is served by the reloaded script meanwhile.
            PythonRuntime.shared?.scriptChanged?()
        }
        scripts[path] = nil
        guard let source = withoutGIL({ readFile(path) }) else {
            Py.raise(PyExc_OSError, "cannot read WSGI script '\(path)': \(String(cString: strerror(errno)))")
            return nil
        }
        let code = source.withUnsafeBufferPointer { buf in
            Py_CompileStringExFlags(buf.baseAddress, path, Py_file_input, nil, -1)
        }
        guard let code else { return nil }
        defer { Py_DecRef(code) }
        guard let module = PyImport_ExecCodeModuleEx(moduleName, code, path) else { return nil }
        if let m = PyLong_FromLongLong(mtime / 1_000_000) {
            PyObject_SetAttrString(module, "__mtime__", m)
            Py_DecRef(m)
        }
        PyErr_Clear()
        scripts[path] = LoadedScript(module: PyRef(owning: module), mtime: mtime)
        return module
    }
}

/// A loaded script module and the mtime it was loaded at.
final class LoadedScript {
    let module: PyRef
    let mtime: Int64
    init(module: consuming PyRef, mtime: Int64) {
        self.module = module
        self.mtime = mtime
    }
}

/// The whole file as NUL-terminated bytes.
func readFile(_ path: String) -> [CChar]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [CChar] = []
    var chunk = [CChar](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            return nil
        }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    bytes.append(0)
    return bytes
}

/// An error of the host itself (not a Python exception).
public struct HostError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
