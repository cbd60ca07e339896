@preconcurrency import CPython
import Glibc

/// What differs between the CPython versions the host builds against (3.10 to 3.13), on the
/// Swift side. The C API's differences are in Sources/CPython/shim.h; nothing else in the host
/// may assume one version.
///
/// Checked against each version's own headers and What's New / C API changes:
/// - Thread states: until 3.11 the first thread state created on an OS thread owns its
///   PyGILState slot for good; since 3.12 activating a thread state (PyEval_RestoreThread,
///   PyThreadState_Swap) rebinds the slot to it. ThreadStates' pinning (a main-interpreter
///   state made first and kept, one kept state per sub-interpreter) is right under both rules:
///   the state created by PyThreadState_New starts with a gilstate counter of 1, so an
///   extension's PyGILState_Ensure/Release pair never deletes it.
///   At child exit, though, 3.12's PyThreadState_Delete of a worker thread's state clears the
///   *exiting* thread's PyGILState slot; a C extension's PyGILState_Ensure in an atexit
///   callback then hung (3.12) or aborted (3.13). So on 3.12+ a sub-interpreter's atexit
///   callbacks run before the other threads' states are deleted, in a state bound to the
///   exiting thread, and the main interpreter is finalised in a bound state
///   (shim.h: swpy_gilstate_bound_sub_state, swpy_gilstate_bound_state).
/// - Sub-interpreters: `newSubInterpreter` (shim: Py_NewInterpreter, or 3.12's
///   Py_NewInterpreterFromConfig with the legacy shared-GIL configuration, or with CPython's
///   isolated own-GIL configuration for WSGIPerInterpreterGIL). With an own GIL the thread-state
///   rules above are unchanged (the current thread state is per OS thread since 3.12), but
///   moving between an own-GIL interpreter's state and another's is PyEval_SaveThread +
///   PyEval_RestoreThread: 3.12's PyThreadState_Swap moves no GIL.
/// - Finalisation: `stopWaitingSource` (threading's shutdown bookkeeping changed in 3.13).
/// - PyConfig: the fields the host sets (program_name, home, install_signal_handlers,
///   parse_argv, optimization_level, write_bytecode, use_hash_seed, hash_seed, warnoptions)
///   exist with the same meaning in 3.10 to 3.13.
/// - Immortal objects (3.12, PEP 683): Py_None, True, False and small ints keep a fixed
///   reference count; the host only increments and decrements them in pairs, which is valid on
///   every version.
public enum PythonVersion {
    /// "3.12": the version of the headers and libpython the host was built against.
    public static let embedded = "\(swpy_version_major()).\(swpy_version_minor())"

    /// PEP 684 (3.12): a sub-interpreter can be created with its own GIL
    /// (Py_NewInterpreterFromConfig with PyInterpreterConfig_OWN_GIL).
    public static let supportsPerInterpreterGIL = swpy_version_hex() >= 0x030C0000

    /// PEP 703: a free-threaded build (Py_GIL_DISABLED, e.g. 3.13t), which can run with the
    /// GIL disabled; a default build always has the GIL.
    public static let isFreeThreadedBuild = swpy_free_threaded_build() != 0

    /// Since 3.12 activating a thread state binds it to the thread's PyGILState slot, and
    /// PyGILState_Ensure works in sub-interpreters.
    static let gilStateFollowsActivation = swpy_version_hex() >= 0x030C0000

    /// "3.12.1": the version of the libpython actually loaded (its Py_GetVersion()).
    public static var runtime: String {
        let full = String(cString: Py_GetVersion())
        return String(full.prefix { $0 != " " })
    }

    /// The interpreter CPython's path calculation starts from when no WSGIPythonHome is given:
    /// the `bin/python3.X` of the installation whose libpython this process loaded (so a
    /// module built against /opt/python3.12 uses /opt/python3.12's standard library, and
    /// Debian's /usr/lib/x86_64-linux-gnu/libpython3.11.so gives /usr/bin/python3.11).
    public static let defaultProgramName: String = {
        let name = "python" + embedded
        if let library = loadedLibpython() {
            var dir = directoryName(library)  // .../lib or .../lib/<multiarch>
            for _ in 0..<2 {
                dir = directoryName(dir)
                let candidate = (dir == "/" ? "" : dir) + "/bin/" + name
                if access(candidate, X_OK) == 0 { return candidate }
            }
        }
        return "/usr/bin/" + name
    }()

    /// The path of the libpython mapped into this process (from /proc/self/maps).
    private static func loadedLibpython() -> String? {
        guard let f = fopen("/proc/self/maps", "r") else { return nil }
        defer { fclose(f) }
        let marker = "/libpython" + embedded
        var line = [CChar](repeating: 0, count: 4096)
        while fgets(&line, Int32(line.count), f) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            guard text.contains(marker + ".so") || text.contains(marker + "d.so"),
                  let slash = text.firstIndex(of: "/") else { continue }
            return String(text[slash...]).trimmingTrailingNewline
        }
        return nil
    }

    /// A new sub-interpreter, sharing the main interpreter's GIL or (3.12+, `ownGIL`) with its
    /// own; called with the GIL held in a main-interpreter thread state. On success its thread
    /// state is current, holding its GIL (with an own GIL, the main one was released: see
    /// shim.h's swpy_new_interpreter).
    static func newSubInterpreter(ownGIL: Bool) -> Result<UnsafeMutablePointer<PyThreadState>, HostError> {
        var tstate: UnsafeMutablePointer<PyThreadState>?
        let status = swpy_new_interpreter(&tstate, ownGIL ? 1 : 0)
        guard swpy_status_is_exception(status) == 0, let tstate else {
            let message = status.err_msg.map { String(cString: $0) } ?? "unknown error"
            return .failure(HostError(message))
        }
        return .success(tstate)
    }

    /// Whether sub-interpreters can have their own GIL (PEP 684: 3.12+).
    public static let supportsOwnGIL = swpy_supports_own_gil() != 0

    /// Whether Py_FinalizeEx is safe once an own-GIL sub-interpreter existed. Not on 3.12: after
    /// an own-GIL interpreter that imported `hashlib` was ended, finalising the main interpreter
    /// frees a block of the ended interpreter's allocator from the main one's tuple free list
    /// and glibc aborts ("double free or corruption"); reproduced with CPython 3.12.1 in a
    /// ten-line C program (Py_NewInterpreterFromConfig with its own GIL, `import hashlib`,
    /// Py_EndInterpreter, Py_FinalizeEx), not with 3.13.0. There the main interpreter's
    /// threads and atexit callbacks still run at exit; only its finalisation is skipped.
    static let finalizesAfterOwnGIL = swpy_version_hex() >= 0x030D0000

    /// Python run in each interpreter at child exit, after its non-daemon threads had their
    /// grace period: makes finalisation stop waiting for the ones still running. Up to 3.12
    /// threading._shutdown() waits on `_shutdown_locks`; 3.13 replaced them with thread
    /// handles joined by `_thread._shutdown()`, which threading calls as `_thread_shutdown`.
    static let stopWaitingSource = """
        locks = getattr(threading, '_shutdown_locks', None)
        if locks is not None:
            with threading._shutdown_locks_lock:
                locks.clear()
        elif hasattr(threading, '_thread_shutdown'):
            threading._thread_shutdown = lambda: None
        """

    private static func directoryName(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

extension String {
    fileprivate var trimmingTrailingNewline: String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
