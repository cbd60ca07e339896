import Glibc

// Small file-system helpers of the host.

/// The mtime of a file in microseconds, or 0.
func fileMTime(_ path: String) -> Int64 {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return Int64(st.st_mtim.tv_sec) * 1_000_000 + Int64(st.st_mtim.tv_nsec) / 1000
}

/// Whether directory holds a virtual environment (`pyvenv.cfg`).
public func isVirtualEnvironment(_ directory: String) -> Bool {
    access(directory + "/pyvenv.cfg", F_OK) == 0
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
