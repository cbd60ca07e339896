@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

/// wsgi.input: the request body read through Apache's input filters (dechunked, limited by
/// LimitRequestBody, `100 Continue` sent on the first read), with a small look-ahead buffer for
/// readline(). With the GIL held; released around every read from Apache.
final class RequestInput {
    private let handle: swiftwsgi_request_handle_t
    private let ops: ApacheOps
    private var buffer: UnsafeMutableRawBufferPointer?
    private var start = 0
    private var end = 0
    private var finished = false
    /// The HTTP status Apache reported with a failed read (e.g. 413), answered when the
    /// application lets the resulting exception escape.
    private(set) var failureStatus: Int32 = 0
    /// For request_finished: reads from Apache, bytes read, seconds spent (timed only when
    /// `timed`, i.e. someone subscribed to events).
    private(set) var reads = 0
    private(set) var length: Int64 = 0
    private(set) var seconds = 0.0
    var timed = false

    private static let bufferSize = 8192

    init(handle: swiftwsgi_request_handle_t, ops: ApacheOps) {
        self.handle = handle
        self.ops = ops
    }

    deinit { buffer?.deallocate() }

    /// Reads up to count bytes from Apache into p. Returns the count, 0 at end, nil with
    /// OSError set on a failed read.
    private func fill(_ p: UnsafeMutableRawPointer, _ count: Int, _ gil: inout GIL) -> Int? {
        if finished || count == 0 { return 0 }
        var status: Int32 = 0
        let started = timed ? monotonicSeconds() : 0
        let n = gil.released { ops.readBody(handle, p.assumingMemoryBound(to: CChar.self), count, &status, $0) }
        if timed { seconds += monotonicSeconds() - started }
        reads += 1
        if n > 0 { length += Int64(n) }
        if n < 0 {
            finished = true
            failureStatus = status
            let reason = status == 413 ? "request body exceeds LimitRequestBody"
                : status == 400 ? "malformed request body" : "client connection closed or timed out"
            Py.raise(PyExc_OSError, "Apache/mod_swiftwsgi request data read error: \(reason)", gil)
            return nil
        }
        if n == 0 { finished = true }
        return n
    }

    private var buffered: Int { end - start }

    /// Moves up to count buffered bytes to p; returns how many.
    private func drain(into p: UnsafeMutableRawPointer, _ count: Int) -> Int {
        let n = min(count, buffered)
        if n > 0, let base = buffer?.baseAddress {
            p.copyMemory(from: base + start, byteCount: n)
            start += n
        }
        return n
    }

    /// read(size): size bytes, fewer only at the end of the body; size -1 reads to the end.
    func read(_ size: Int, _ gil: inout GIL) -> PyRef? {
        var capacity = size < 0 ? 65536 : min(size, 262_144)
        guard var object = PyRef(owningOrNil: PyBytes_FromStringAndSize(nil, capacity)) else { return nil }
        var got = 0
        while size < 0 || got < size {
            if got == capacity {
                capacity = size < 0 ? capacity * 2 : min(size, capacity * 2)
                guard let resized = Self.resize(object, capacity) else { return nil }
                object = resized
            }
            let p = UnsafeMutableRawPointer(swpy_bytes_as_string(object.pointer)) + got
            var n = drain(into: p, capacity - got)
            if n == 0 {
                guard let r = fill(p, capacity - got, &gil) else { return nil }
                if r == 0 { break }
                n = r
            }
            got += n
        }
        if got == capacity { return consume object }
        return Self.resize(object, got)
    }

    /// _PyBytes_Resize, which consumes the bytes object whether or not it succeeds.
    private static func resize(_ object: consuming PyRef, _ size: Int) -> PyRef? {
        var p: PyPointer? = object.release()
        guard _PyBytes_Resize(&p, size) == 0 else { return nil }
        return PyRef(owningOrNil: p)
    }

    /// readline(size): one line including its newline, at most size bytes when size >= 0.
    func readline(_ size: Int, _ gil: inout GIL) -> PyRef? {
        var line: [UInt8] = []
        while size < 0 || line.count < size {
            if buffered == 0 {
                if buffer == nil {
                    buffer = .allocate(byteCount: Self.bufferSize, alignment: 8)
                }
                start = 0
                guard let base = buffer?.baseAddress, let n = fill(base, Self.bufferSize, &gil) else { return nil }
                end = n
                if n == 0 { break }
            }
            let limit = size < 0 ? buffered : min(buffered, size - line.count)
            guard let buffer else { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[start..<(start + limit)])
            if let i = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                line.append(contentsOf: bytes[...i])
                start += i + 1
                break
            }
            line.append(contentsOf: bytes)
            start += limit
        }
        return PyRef(owningOrNil: line.withUnsafeBufferPointer { b in
            PyBytes_FromStringAndSize(UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count)
        })
    }

    /// readlines(hint): lines until the end, or until their total reaches hint when hint > 0.
    func readlines(_ hint: Int, _ gil: inout GIL) -> PyRef? {
        guard let list = Py.list(gil) else { return nil }
        var total = 0
        while true {
            guard let line = readline(-1, &gil) else { return nil }
            let n = swpy_bytes_size(line.pointer)
            if n == 0 { break }
            guard list.append(line, gil) else { return nil }
            total += n
            if hint > 0 && total >= hint { break }
        }
        return list
    }
}
