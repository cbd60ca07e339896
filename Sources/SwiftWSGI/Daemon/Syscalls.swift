import CSystemShims
import Glibc

/// Every system call of the daemon transport goes through here: EINTR is retried and a
/// failure becomes a `SystemError` carrying errno.
struct SystemError: Error, CustomStringConvertible {
    let call: String
    let errno: Int32
    var description: String { "\(call): \(String(cString: strerror(errno)))" }
}

enum Sys {
    @discardableResult
    static func check<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = Glibc.errno
            if e == EINTR { continue }
            throw SystemError(call: call, errno: e)
        }
    }

    static func socketUnix() throws(SystemError) -> Int32 {
        try check("socket") { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }

    /// Connects to a unix socket path.
    static func connect(_ fd: Int32, path: String) throws(SystemError) {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw SystemError(call: "connect", errno: ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let len = socklen_t(MemoryLayout<sockaddr_un>.size)
        try check("connect") {
            withUnsafePointer(to: &addr) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, len) }
            }
        }
    }

    static func accept(_ fd: Int32) throws(SystemError) -> Int32 {
        try check("accept") { csys_accept_cloexec(fd) }
    }

    static func setNonBlocking(_ fd: Int32) throws(SystemError) {
        let flags = try check("fcntl") { fcntl(fd, F_GETFL) }
        try check("fcntl") { fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    static func epollCreate() throws(SystemError) -> Int32 {
        try check("epoll_create1") { csys_epoll_create() }
    }

    /// Adds fd to epfd (add) or re-arms it, for input, tagged with token.
    static func epollWatch(_ epfd: Int32, _ fd: Int32, token: UInt64, add: Bool, oneShot: Bool) throws(SystemError) {
        try check("epoll_ctl") { csys_epoll_watch(epfd, fd, token, add ? 1 : 0, oneShot ? 1 : 0) }
    }

    /// The token of the next ready descriptor, or nil after timeoutMilliseconds (-1: none).
    static func epollWaitOne(_ epfd: Int32, timeoutMilliseconds: Int32) throws(SystemError) -> UInt64? {
        var token: UInt64 = 0
        let n = try check("epoll_wait") { csys_epoll_wait_one(epfd, &token, timeoutMilliseconds) }
        return n == 1 ? token : nil
    }

    static func eventFD() throws(SystemError) -> Int32 {
        try check("eventfd") { csys_eventfd() }
    }

    /// Adds one to an eventfd: wakes a reader, or makes epoll waiters on it ready for good
    /// when it is never read.
    static func signal(eventFD fd: Int32) {
        var one: UInt64 = 1
        _ = Glibc.write(fd, &one, 8)
    }

    /// Blocks until the eventfd was signalled, and resets it.
    static func wait(eventFD fd: Int32) {
        var count: UInt64 = 0
        _ = try? check("read") { Glibc.read(fd, &count, 8) }
    }

    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    static func shutdown(_ fd: Int32) {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Raises the soft RLIMIT_NOFILE to limit (or the hard limit, if lower).
    static func raiseDescriptorLimit(to limit: rlim_t) {
        var l = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &l) == 0, l.rlim_cur < min(l.rlim_max, limit) else { return }
        l.rlim_cur = min(l.rlim_max, limit)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &l)
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO (seconds; 0 = none).
    static func setTimeouts(_ fd: Int32, seconds: Int) {
        guard seconds > 0 else { return }
        setTimeouts(fd, receive: Double(seconds), send: Double(seconds))
    }

    /// Sets SO_RCVTIMEO and SO_SNDTIMEO in seconds (0 = none). A blocking connect() to a unix
    /// socket whose backlog is full waits for SO_SNDTIMEO, then fails with EAGAIN.
    static func setTimeouts(_ fd: Int32, receive: Double, send: Double) {
        func tv(_ s: Double) -> timeval {
            let whole = Int(s)
            return timeval(tv_sec: whole, tv_usec: Int((s - Double(whole)) * 1e6))
        }
        let size = socklen_t(MemoryLayout<timeval>.size)
        var r = tv(receive), w = tv(send)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &r, size)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &w, size)
    }

    /// Sets SO_SNDBUF and SO_RCVBUF (0: leave the system's size).
    static func setBufferSizes(_ fd: Int32, send: Int32, receive: Int32) {
        let size = socklen_t(MemoryLayout<Int32>.size)
        var s = send, r = receive
        if s > 0 { setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s, size) }
        if r > 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r, size) }
    }

    /// Writes all bytes, optionally passing one descriptor with the first byte (SCM_RIGHTS).
    static func sendAll(_ fd: Int32, _ data: UnsafeRawBufferPointer, passing descriptor: Int32? = nil) throws(SystemError) {
        var offset = 0
        var pending = descriptor
        guard let base = data.baseAddress else { return }  // nothing to send
        while offset < data.count {
            let n: Int
            if let d = pending {
                n = try sendWithDescriptor(fd, UnsafeRawBufferPointer(rebasing: data[offset...]), d)
                pending = nil
            } else {
                n = try check("send") { Glibc.send(fd, base + offset, data.count - offset, Int32(MSG_NOSIGNAL)) }
            }
            offset += n
        }
    }

    /// Runs `body` with a message of the one buffer `iov` and a zeroed control buffer with room
    /// for one descriptor (sendmsg/recvmsg with SCM_RIGHTS).
    private static func withMessage(_ iov: iovec, _ body: (inout msghdr) throws(SystemError) -> Int) throws(SystemError) -> Int {
        var iov = iov
        let space = Int(csys_cmsg_space_fd())
        let control = UnsafeMutableRawPointer.allocate(byteCount: space, alignment: 8)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: space)
        return try withUnsafeMutablePointer(to: &iov) { iovp throws(SystemError) -> Int in
            var msg = msghdr()
            msg.msg_iov = iovp
            msg.msg_iovlen = 1
            msg.msg_control = control
            msg.msg_controllen = space
            return try body(&msg)
        }
    }

    private static func sendWithDescriptor(_ fd: Int32, _ data: UnsafeRawBufferPointer, _ descriptor: Int32) throws(SystemError) -> Int {
        try withMessage(iovec(iov_base: UnsafeMutableRawPointer(mutating: data.baseAddress), iov_len: data.count)) { msg throws(SystemError) -> Int in
            csys_cmsg_put_fd(&msg, descriptor)
            return try check("sendmsg") { Glibc.sendmsg(fd, &msg, Int32(MSG_NOSIGNAL)) }
        }
    }

    /// Reads what is available (at least one byte unless at end), collecting any passed
    /// descriptors. Returns 0 at end of stream.
    static func receive(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, descriptors: inout [Int32]) throws(SystemError) -> Int {
        try withMessage(iovec(iov_base: buffer.baseAddress, iov_len: buffer.count)) { msg throws(SystemError) -> Int in
            let n = try check("recvmsg") { Glibc.recvmsg(fd, &msg, Int32(MSG_CMSG_CLOEXEC)) }
            let passed = csys_cmsg_get_fd(&msg)
            if passed >= 0 { descriptors.append(passed) }
            return n
        }
    }
}
