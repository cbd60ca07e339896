@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc
import Synchronization

/// One Python interpreter: the main one (application group `%{GLOBAL}`, name "") or a
/// sub-interpreter of a named application group, created on first use and kept for the life of
/// the process.
///
/// "The GIL" below is *this interpreter's* GIL: the process's one, or (WSGIPerInterpreterGIL,
/// `ownGIL`) a GIL of its own, in which case threads of different interpreters run at the same
/// time and holding one GIL says nothing about another interpreter's state. So everything here
/// is either immutable after `init`, guarded by this interpreter's GIL and reached only from a
/// thread state of this interpreter (its Python objects, `scripts`, `running`), guarded by a
/// host lock (`loading`, always taken before the GIL), or atomic (the counters). Nothing here
/// holds an object of another interpreter; the host's types (`types`) and modules are this
/// interpreter's own (HostTypes.swift, ModWSGIModule.swift).
final class Interpreter: @unchecked Sendable {
    let name: String
    let ordinal: Int
    let state: OpaquePointer
    /// It has its own GIL (PEP 684): switching to or from one of its thread states moves GILs.
    let ownGIL: Bool
    let types: HostTypes
    /// environ entries that are the same for every request of this interpreter.
    let environTemplate: PyRef
    /// The strs of environ names and recent values, reused across requests; nil on a
    /// free-threaded build (it relies on the GIL).
    let environStrings: EnvironStrings? = PythonVersion.isFreeThreadedBuild ? nil : EnvironStrings()
    /// Scripts loaded in this interpreter, by path; with its GIL held.
    private var scripts: [String: LoadedScript] = [:]
    private let loading = PlainLock<Void>()
    /// traceback.format_exception, for logging exceptions: imported at the first one (with
    /// tokenize, linecache, textwrap... it weighs some 0.3 MB in each interpreter that never
    /// logs a traceback); with its GIL held.
    private var formatExceptionFunction: PyRef?
    /// Its `mod_wsgi` module (event subscribers, helpers); set once at creation.
    private(set) var modWSGI: ModWSGIModule!
    /// The requests it is running (for mod_wsgi.active_requests); with its GIL held.
    var running: [RequestContext] = []
    /// Its requests begun and ended in this process, for mod_status's section: in the memory
    /// Apache's children share when mod_status is loaded, else its own.
    let counters: UnsafeMutablePointer<swiftwsgi_interpreter_counters_t>

    /// Sets up the interpreter current on this thread, with the settings it was created with
    /// (<WSGIInterpreterOptions>' sys.path additions and WSGIRestrict* values; the switch
    /// interval is applied by the creator, PythonRuntime).
    init(name: String, ordinal: Int, config: ProcessConfig, settings: InterpreterSettings? = nil, ownGIL: Bool = false,
         _ gil: inout GIL) throws(HostError) {
        self.name = name
        self.ordinal = ordinal
        self.counters = config.statusCounters?.counters(forGroup: name) ?? StatusCounters.local()
        self.ownGIL = ownGIL
        guard let interp = PyInterpreterState_Get() else { throw HostError("no interpreter state") }
        self.state = interp
        self.types = try HostTypes(gil)
        // threading as it was when its logging import brought it in: imported as the
        // interpreter is made, by the thread making it (as mod_wsgi does), not later by
        // whichever request thread first asks.
        _ = PyRef(owningOrNil: PyImport_ImportModule("threading"))
        PyErr_Clear()
        try config.installModules(name: name, types: types,
                                  settings: settings ?? config.interpreterSettings(applicationGroup: name), gil)
        self.environTemplate = try config.makeEnvironTemplate(applicationGroup: name, types: types, gil)
        self.modWSGI = try ModWSGIModule(config: config, applicationGroup: name, types: types,
                                         interpreter: Unmanaged.passUnretained(self).toOpaque(), &gil)
    }

    /// traceback.format_exception (borrowed), imported on first use; nil when it cannot be.
    /// With no exception set (the caller has fetched the one it formats).
    func formatException(_ gil: borrowing GIL) -> PyPointer? {
        if formatExceptionFunction == nil, let traceback = PyRef(owningOrNil: PyImport_ImportModule("traceback")) {
            // The import may have let another thread in, which may have set it meanwhile.
            if formatExceptionFunction == nil { formatExceptionFunction = traceback.attribute("format_exception", gil) }
        }
        if formatExceptionFunction == nil { PyErr_Clear() }
        return formatExceptionFunction.pointer
    }

    /// The script module for path, an owned reference (a reload by another thread cannot free
    /// it under the caller): loaded on first use and reloaded when its mtime changed (when
    /// reloading is on). nil with a Python exception set when it cannot be loaded. May release
    /// the GIL (to wait for another thread's load, to read the file, to call `announceReload`,
    /// which runs before a changed script is executed again).
    func script(path: String, mtime: Int64, reloading: Bool, _ gil: inout GIL,
                announceReload: (borrowing Unlocked) -> Void = { _ in }) -> PyRef? {
        if let s = scripts[path], !reloading || s.mtime == mtime { return s.module.retained() }
        // Lock order: the host lock before the GIL (`locking` releases the GIL to wait).
        return gil.locking(loading) { gil in
            if let s = scripts[path], !reloading || s.mtime == mtime { return s.module.retained() }
            return load(path: path, mtime: mtime, replacing: scripts[path] != nil, &gil, announceReload)
        }
    }

    /// Executes the script as a module named like mod_wsgi's, `_mod_wsgi_` + md5 of its path.
    private func load(path: String, mtime: Int64, replacing: Bool, _ gil: inout GIL,
                      _ announceReload: (borrowing Unlocked) -> Void) -> PyRef? {
        let moduleName = PythonRuntime.moduleName(forScript: path)
        if replacing {
            gil.released { announceReload($0) }
            if let modules = PyImport_GetModuleDict(), PyDict_DelItemString(modules, moduleName) != 0 { PyErr_Clear() }
            // A daemon process is replaced as well, so no state of the old code survives; this
            // request is served by the reloaded script meanwhile.
            gil.released { _ in PythonRuntime.shared?.scriptChanged?() }
        }
        // Threads still running the old module keep their own references to it.
        scripts[path] = nil
        guard let source = gil.released({ _ in readFile(path) }) else {
            Py.raise(PyExc_OSError, "cannot read WSGI script '\(path)': \(String(cString: strerror(errno)))", gil)
            return nil
        }
        let compiled = source.withUnsafeBufferPointer { buf in
            Py_CompileStringExFlags(buf.baseAddress, path, Py_file_input, nil, -1)
        }
        guard let code = PyRef(owningOrNil: compiled),
              let module = PyRef(owningOrNil: PyImport_ExecCodeModuleEx(moduleName, code.pointer, path))
        else { return nil }
        if let m = Py.int(Int(mtime / 1_000_000), gil) {
            PyObject_SetAttrString(module.pointer, "__mtime__", m.pointer)
        }
        PyErr_Clear()
        scripts[path] = LoadedScript(module: module.retained(), mtime: mtime)
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
