import Glibc
import PythonHost

/// Checks run while Apache reads its configuration, so a bad value fails `apachectl configtest`
/// with the reason instead of failing later in every child.
enum ConfigChecks {
    /// WSGIPythonHome: an existing directory; a virtual environment must be of the embedded
    /// Python's version (else CPython dies at start-up with "init_fs_encoding").
    static func pythonHome(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return "'\(path)' does not exist" }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return "'\(path)' is not a directory" }
        let embedded = PythonLocation.embeddedVersion
        if isVirtualEnvironment(path) {
            guard let cfg = readText(path + "/pyvenv.cfg") else { return "cannot read '\(path)/pyvenv.cfg'" }
            if let version = PyvenvConfig.version(cfg), !PyvenvConfig.matches(version, embedded) {
                return "'\(path)' is a virtual environment of Python \(version), but mod_swiftwsgi embeds Python \(embedded)"
            }
            return nil
        }
        guard access(path + "/lib/python\(embedded)", F_OK) == 0 else {
            return "'\(path)' holds no lib/python\(embedded): it is neither a Python \(embedded) installation prefix nor a virtual environment"
        }
        return nil
    }

    /// WSGIPerInterpreterGIL On: the embedded Python must be 3.12 or later (PEP 684).
    static func perInterpreterGIL() -> String? {
        if PythonVersion.supportsPerInterpreterGIL { return nil }
        return "sub-interpreters with their own GIL (PEP 684) need Python 3.12 or later, and mod_swiftwsgi "
            + "embeds Python \(PythonVersion.embedded) (use a module built for 3.12+, see docs/gil-modes.md)"
    }

    /// WSGIFreeThreading On: the embedded Python must be a free-threaded build (PEP 703).
    static func freeThreading() -> String? {
        if PythonVersion.isFreeThreadedBuild { return nil }
        return "the GIL can be disabled only on a free-threaded Python build (PEP 703, e.g. 3.13t), "
            + "and the Python \(PythonVersion.embedded) mod_swiftwsgi embeds is built with the GIL"
    }

    private static func readText(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The `version` of a pyvenv.cfg and how it compares with the embedded Python.
public enum PyvenvConfig {
    public static func version(_ text: String) -> String? {
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters
            if key == "version" || key == "version_info" { return parts[1].trimmingCharacters }
        }
        return nil
    }

    /// "3.11.2" matches "3.11"; "3.12.1" and "3.1" do not.
    public static func matches(_ version: String, _ embedded: String) -> Bool {
        version == embedded || version.hasPrefix(embedded + ".")
    }
}

extension Substring {
    var trimmingCharacters: String {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

