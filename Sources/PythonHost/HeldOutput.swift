@preconcurrency import CSwiftWSGI
import Glibc

/// Embedded mode: a response's status, headers and first body bytes, copied while the GIL is
/// held instead of handed to Apache at once, and handed over together once the GIL is released
/// anyway: before the next Apache call that writes, or when the request's Python work is done.
/// A small response then costs no GIL release and re-take in the middle of the request (under
/// load, each one is a wake-up of another thread and a wait to get the GIL back).
///
/// One per thread (`ThreadStates.heldOutput`), reused by its requests: at most `limit` bytes,
/// grown as needed. Used only by the thread that owns it; a request takes it at its first held
/// byte and gives it back empty when it is delivered.
final class HeldOutput {
    /// The most a response holds back (headers and body); more goes to Apache directly.
    static let limit = 16 * 1024

    private var storage: UnsafeMutableRawPointer?
    private var capacity = 0
    private var count = 0
    /// The status line, then each header's name and value: offsets of NUL-terminated strings.
    private var strings: [Int] = []
    private var statusCode: Int32 = 0
    /// Where the body starts (after the header strings), when headers are held.
    private var bodyStart = 0
    private(set) var hasHeaders = false

    var isEmpty: Bool { count == 0 && !hasHeaders }

    deinit { storage?.deallocate() }

    /// Whether `more` bytes still fit.
    @inline(__always)
    func fits(_ more: Int) -> Bool { more <= Self.limit - count }

    private func reserve(_ total: Int) -> Bool {
        guard total <= Self.limit else { return false }
        if total <= capacity { return true }
        let size = min(Self.limit, max(4096, capacity * 2, total))
        let grown = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        if let storage {
            grown.copyMemory(from: storage, byteCount: count)
            storage.deallocate()
        }
        storage = grown
        capacity = size
        return true
    }

    private func append(_ p: UnsafeRawPointer, _ n: Int) {
        guard let storage else { return }
        (storage + count).copyMemory(from: p, byteCount: n)
        count += n
    }

    /// Holds the status line and headers (C strings; copied). False when they do not fit (then
    /// nothing is held).
    func holdHeaders(status: Int32, line: UnsafePointer<CChar>, _ headers: UnsafeBufferPointer<swiftwsgi_kv_t>) -> Bool {
        guard !hasHeaders, count == 0 else { return false }
        func length(_ s: UnsafePointer<CChar>?) -> Int { s.map { strlen($0) } ?? 0 }
        var total = strlen(line) + 1
        for kv in headers { total += length(kv.name) + length(kv.value) + 2 }
        guard reserve(total) else { return false }
        strings.removeAll(keepingCapacity: true)
        var nul: CChar = 0
        func add(_ s: UnsafePointer<CChar>?) {
            strings.append(count)
            if let s { append(s, strlen(s) + 1) } else { append(&nul, 1) }
        }
        add(line)
        for kv in headers {
            add(kv.name)
            add(kv.value)
        }
        statusCode = status
        bodyStart = count
        hasHeaders = true
        return true
    }

    /// Holds body bytes (copied). False when they do not fit (then nothing is held).
    func holdBody(_ data: UnsafeRawPointer, _ n: Int) -> Bool {
        guard reserve(count + n) else { return false }
        append(data, n)
        return true
    }

    /// Hands what is held to Apache (set_response, then one body write) and empties it.
    /// 0, -2 when Apache refused the headers, -1 when the client is gone.
    func deliver(_ ops: ApacheOps, _ handle: swiftwsgi_request_handle_t, _ unlocked: borrowing Unlocked) -> Int32 {
        defer {
            count = 0
            bodyStart = 0
            hasHeaders = false
        }
        guard let storage else { return 0 }
        if hasHeaders {
            let base = UnsafeRawPointer(storage).assumingMemoryBound(to: CChar.self)
            let pairs = (strings.count - 1) / 2
            let rc = withUnsafeTemporaryAllocation(of: swiftwsgi_kv_t.self, capacity: max(1, pairs)) { kvs -> Int32 in
                for i in 0..<pairs {
                    kvs[i] = swiftwsgi_kv_t(name: base + strings[1 + 2 * i], value: base + strings[2 + 2 * i])
                }
                return ops.setResponse(handle, statusCode, base + strings[0], kvs.baseAddress, pairs, unlocked)
            }
            if rc != 0 { return -2 }
        }
        let n = count - bodyStart
        if n > 0 {
            let body = UnsafeRawPointer(storage + bodyStart).assumingMemoryBound(to: CChar.self)
            if ops.writeBody(handle, body, n, flush: false, unlocked) != 0 { return -1 }
        }
        return 0
    }
}
