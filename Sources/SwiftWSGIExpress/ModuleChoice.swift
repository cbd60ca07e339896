import FoundationEssentials
import Glibc

/// Which mod_swiftwsgi build matches the Python that runs swiftwsgi-express.
///
/// `make` builds mod_swiftwsgi.so for Debian's Python 3.11; `make PYTHON=.../python3.X` builds
/// mod_swiftwsgi-py3X.so (with libswiftwsgi-py3X.so), and both can be installed side by side.
/// The Python running express is the active virtual environment's ($VIRTUAL_ENV), else the
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

    /// "3.12" for the Python running express, or nil when there is none.
    static func activePythonVersion(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard let python = activePython(environment: environment) else { return nil }
        let script = "import sys; print('%d.%d' % sys.version_info[:2])"
        guard let result = try? ChildProgram.run(python, ["-c", script], mergeStandardError: false),
              result.status == 0 else { return nil }
        let v = result.output.trimmingWhiteSpace
        return v.isEmpty ? nil : v
    }

    static func activePython(environment: [String: String]) -> String? {
        let fm = FileManager.default
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
