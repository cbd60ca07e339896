import FoundationEssentials
import Glibc

/// Which mod_swiftwsgi build matches the Python that runs swiftwsgi-express.
///
/// `make` builds mod_swiftwsgi.so for Debian's Python 3.11; `make PYTHON=.../python3.X` builds
/// mod_swiftwsgi-py3X.so (with libswiftwsgi-py3X.so), and both can be installed side by side.
/// The Python running express is the one the wheel's console script names
/// ($SWIFTWSGI_EXPRESS_PYTHON), else the active virtual environment's ($VIRTUAL_ENV), else the
/// first `python3` on PATH.
enum ModuleChoice {
    /// The Python the unversioned mod_swiftwsgi.so is built for.
    static let defaultPythonVersion = "3.11"

    /// Module file names to look for, best first: the one built for `pythonVersion`, and the
    /// default module when that is the default build's version (or the version is unknown).
    static func moduleNames(forPythonVersion pythonVersion: String?) -> [String] {
        guard let v = pythonVersion else { return ["mod_swiftwsgi.so"] }
        let versioned = "mod_swiftwsgi-py" + v.replacing(".", with: "") + ".so"
        return v == defaultPythonVersion ? [versioned, "mod_swiftwsgi.so"] : [versioned]
    }

    /// The host library a module file loads (it sits next to it): mod_swiftwsgi-py312.so ->
    /// libswiftwsgi-py312.so.
    static func hostLibrary(forModule moduleName: String) -> String {
        "lib" + moduleName.dropFirst("mod_".count)
    }

    /// The Python running express, as it describes itself.
    struct PythonFacts {
        /// "3.12"
        var version: String
        /// Its shared libpython (libpython3.12.so.1.0 with its directory), when it has one: the
        /// module of a wheel carries no rpath to it, so Apache loads it first (LoadFile), as
        /// mod_wsgi-express does.
        var library: String?
    }

    /// Asks the Python for its version and its shared library: the library is looked for where
    /// scripts/python-build-info finds it (under sys.base_prefix first: a Python copied to another
    /// prefix still names its old one in LIBDIR).
    static let factsScript = """
        import os, sys, sysconfig
        v = sysconfig.get_config_var
        print('%d.%d' % sys.version_info[:2])
        name = v('INSTSONAME') or ''
        dirs = [os.path.join(sys.base_prefix, 'lib'), os.path.join(sys.base_prefix, 'lib', v('MULTIARCH') or ''), v('LIBDIR') or '']
        found = [os.path.join(d, name) for d in dirs if v('Py_ENABLE_SHARED') and name and d and os.path.isfile(os.path.join(d, name))]
        print(os.path.normpath(found[0]) if found else '')
        """

    /// The version and library of the Python running express, or nil when there is none.
    static func activePythonFacts(environment: [String: String] = ProcessInfo.processInfo.environment) -> PythonFacts? {
        guard let python = activePython(environment: environment),
              let result = try? ChildProgram.run(python, ["-c", factsScript], mergeStandardError: false),
              result.status == 0 else { return nil }
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).trimmingWhiteSpace }
        guard let version = lines.first, !version.isEmpty else { return nil }
        let library = lines.count > 1 && lines[1].hasPrefix("/") ? lines[1] : nil
        return PythonFacts(version: version, library: library)
    }

    static func activePython(environment: [String: String]) -> String? {
        let fm = FileManager.default
        // The wheel's console script names the Python it was installed for.
        if let python = environment["SWIFTWSGI_EXPRESS_PYTHON"], !python.isEmpty, fm.isExecutableFile(atPath: python) {
            return python
        }
        if let venv = environment["VIRTUAL_ENV"], !venv.isEmpty, fm.isExecutableFile(atPath: venv + "/bin/python3") {
            return venv + "/bin/python3"
        }
        for dir in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") where !dir.isEmpty {
            let candidate = String(dir) + "/python3"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
