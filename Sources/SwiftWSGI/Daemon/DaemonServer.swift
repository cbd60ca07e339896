@preconcurrency import CSwiftWSGI
import CSystemShims
import Glibc
import PythonHost
import Synchronization

/// A daemon process of a WSGIDaemonProcess group: Python initialised after fork, `threads`
/// threads serving requests through the same WSGI host as embedded mode, with Apache's
/// operations replaced by frames to the Apache child (`DaemonOps`).
///
/// Apache children keep their connection between requests. The process's epoll instance
/// watches the group's shared listening socket and every idle connection, each one-shot: the
/// free worker that gets an event accepts or claims that connection, serves one request,
/// then re-arms it. Only free workers wait, so a request never waits behind an idle
/// connection. It stops on SIGTERM (finishing running requests within shutdown-timeout), on
/// SIGUSR1 (within eviction-timeout), or on a recycle (maximum-requests, restart-interval,
/// inactivity-timeout, a changed script: within graceful-timeout); the Apache parent starts
/// another. Idle connections are closed as it begins to stop, so the children go elsewhere.
///
/// Its queue and connection state (slots, epoll registrations, counters, stop flags) is only
/// ever guarded by its own mutexes and atomics, never by the GIL, and no worker holds a GIL
/// while it waits here: workers of application groups with their own GIL (WSGIPerInterpreterGIL)
/// run at the same time without sharing anything of Python's.
final class DaemonServer: @unchecked Sendable {
    let name: String
    let listenFD: Int32
    let threads: Int
    /// threads=0: no requests; the process runs its WSGIImportScript service scripts on a
    /// thread and is replaced when they return (mod_wsgi's managed-process mode).
    let serviceOnly: Bool
    let maximumRequests: Int
    let socketTimeout: Int
    let gracefulTimeout: Int
    let stackSize: Int
    let requestTimeout: Double
    /// interrupt-timeout: seconds a request given mod_wsgi.RequestTimeout has to unwind; 0: none raised.
    let interruptTimeout: Double
    /// When a running request is over its time (mod_wsgi 6.1): request-timeout × (1 + ln threads),
    /// which is request-timeout itself for one thread and more patient for many; 0: never.
    let requestLimit: Double
    /// request-timeout raises mod_wsgi.RequestTimeout (both timeouts set).
    let raisesRequestTimeout: Bool
    let inactivityTimeout: Double
    let restartInterval: Double
    let queueTimeout: Double
    let shutdownTimeout: Double
    let startupTimeout: Int
    let evictionTimeout: Double
    let deadlockTimeout: Double
    let sendBufferSize: Int32
    let receiveBufferSize: Int32
    let processConfig: ProcessConfig
    /// This process's counters in the memory the Apache parent shares with mod_status's readers.
    let status: UnsafeMutablePointer<swiftwsgi_daemon_status_t>?
    /// The Apache children's queue cells (mod_status's queue length), or nil.
    let queueCells: UnsafeMutablePointer<UInt64>?
    let queueCellCount: UInt32
    /// Whether Apache asked the process to stop (SIGTERM), as opposed to a recycle.
    private let terminated = Atomic<Bool>(false)
    /// What each worker thread is running: its connection and when it started (for
    /// request-timeout), guarded per slot.
    private let slots: [Slot]
    private final class Slot: Sendable {
        let running = PlainLock<Running?>(nil)
        /// request-timeout's handle on the thread's Python request.
        let interrupt = RequestInterrupt()
        /// Numbers the slot's requests (only its worker writes it).
        let requests = Atomic<UInt64>(0)
    }
    struct Running: @unchecked Sendable {
        let connection: FrameConnection
        let started: Double
        /// Its number in the slot (`RequestInterrupt.arm`).
        let request: UInt64
        /// When mod_wsgi.RequestTimeout was sent to it (interrupt-timeout runs from then).
        var interrupted: Double? = nil
    }
    /// Requests to interrupt (slot, request number, what the log says), for the interrupter
    /// thread: raising the exception needs the request's GIL, which the main thread must never
    /// wait for.
    private let interrupts = PlainLock<[(slot: Int, request: UInt64, note: String)]>([])
    private var interruptFD: Int32 = -1
    private let lastActivity = Atomic<Int64>(0)  // monotonic milliseconds
    private let started = monotonicNow()
    /// The Apache parent; if it dies (even by SIGKILL), the daemon must not live on.
    private let parent = getppid()
    private var mainThread: pthread_t?
    private let stopping = Atomic<Bool>(false)
    /// SIGUSR1 asked for the restart (eviction-timeout applies).
    private let evicted = Atomic<Bool>(false)
    /// deadlock-timeout: when a probe thread last got the GIL (monotonic milliseconds), and
    /// whether the GIL then stayed held too long. The probe takes `probing` around each
    /// attempt; shutdown takes it for good first (a probe during finalisation would crash).
    private let lastGIL = Atomic<Int64>(0)
    private let deadlocked = Atomic<Bool>(false)
    private let probing = PlainLock<Bool>(true)
    /// The same for the interrupter (request-timeout). Not `probing`: on CPython 3.11 a thread
    /// waiting for the GIL with a main-interpreter state is never given it by a thread running
    /// Python in a sub-interpreter (the drop request goes to the waiter's interpreter), so the
    /// probe may wait a long time; the interrupter takes the GIL in the request's interpreter.
    private let interrupting = PlainLock<Bool>(true)
    /// Why the process stops, as mod_wsgi's process_stopping event names it.
    private let stopReason = PlainLock<String>("")
    private let active = Atomic<Int>(0)
    private let served = Atomic<Int>(0)
    private var runtime: PythonRuntime?
    private var epoll: Int32 = -1
    private var wakeFD: Int32 = -1
    /// Written by the worker that makes every worker busy: wakes the shedder.
    private var saturatedFD: Int32 = -1
    /// The shedder left the listening socket disarmed while every worker was busy; the next
    /// worker to become free re-arms it.
    private let listenParked = Atomic<Bool>(false)
    private let connections = DaemonConnections()
    /// epoll tokens: the listening socket, the stop eventfd, then one per connection.
    private static let listenToken: UInt64 = 0
    private static let wakeToken: UInt64 = 1

    init(_ c: swiftwsgi_daemon_config_t) {
        name = c.name.map { String(cString: $0) } ?? ""
        status = c.status
        queueCells = c.queue_cells
        queueCellCount = c.queue_cell_count
        listenFD = c.listen_fd
        threads = max(1, Int(c.threads))
        serviceOnly = c.threads == 0
        maximumRequests = Int(c.maximum_requests)
        socketTimeout = Int(c.socket_timeout)
        gracefulTimeout = Int(c.graceful_timeout)
        stackSize = c.stack_size
        requestTimeout = Double(c.request_timeout)
        interruptTimeout = Double(c.interrupt_timeout)
        requestLimit = Double(c.request_timeout) * (1 + log(Double(max(1, c.threads))))
        raisesRequestTimeout = c.request_timeout > 0 && c.interrupt_timeout > 0
        inactivityTimeout = Double(c.inactivity_timeout)
        restartInterval = Double(c.restart_interval)
        queueTimeout = Double(c.queue_timeout)
        shutdownTimeout = Double(c.shutdown_timeout)
        startupTimeout = Int(c.startup_timeout)
        evictionTimeout = Double(c.eviction_timeout)
        deadlockTimeout = Double(c.deadlock_timeout)
        sendBufferSize = c.send_buffer_size
        receiveBufferSize = c.receive_buffer_size
        var process = ProcessConfig(c.process)
        process.runOnce = c.threads == 1 && c.maximum_requests == 1
        process.multiprocessOverride = c.multiprocess != 0
        processConfig = process
        slots = (0..<max(1, Int(c.threads))).map { _ in Slot() }
    }

    func run() -> Int32 {
        // Signals are taken by the main thread alone (sigwait); the workers never see them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&signals, s) }
        mainThread = pthread_self()
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        LogFormat.processGroup = name  // before any thread: every message names the group

        // Start-up is Python's initialisation and the preloaded scripts; the watchdog stands
        // down as soon as they are done.
        let watchdog = startupTimeout > 0 ? StartupWatchdog(seconds: startupTimeout) { [self] in
            swiftwsgi_status_stopping(status, "startup_timeout")
        } : nil
        var initConfig = processConfig
        // A service-script process serves no request: no telemetry (as mod_wsgi).
        if serviceOnly { initConfig.importScripts = []; initConfig.telemetrySocket = nil }
        do {
            var unlocked = Unlocked.enteringFromApache()  // the daemon's main thread, before Python
            runtime = try PythonRuntime.initialize(config: initConfig, apache: DaemonOps.ops, &unlocked)
            watchdog?.done()
        } catch {
            watchdog?.done()
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, .daemonStartFailed, "\(error)")
            sleep(1)  // do not spin if Python can never start
            return 1
        }
        runtime?.scriptChanged = { [weak self] in self?.requestRestart("a WSGI script changed") }
        if serviceOnly { return runServiceScripts(signals: signals) }
        do {
            epoll = try Sys.epollCreate()
            wakeFD = try Sys.eventFD()
            saturatedFD = try Sys.eventFD()
            // Several processes wait on the socket: the ones that lose a race get EAGAIN.
            try Sys.setNonBlocking(listenFD)
            try Sys.epollWatch(epoll, listenFD, token: Self.listenToken, add: true, oneShot: true)
            try Sys.epollWatch(epoll, wakeFD, token: Self.wakeToken, add: true, oneShot: false)
        } catch {
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, .daemonStartFailed, "\(error)")
            return 1
        }
        // One descriptor per Apache-child connection: the soft limit goes up towards the hard one.
        Sys.raiseDescriptorLimit(to: 65536)
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonReady, "daemon process ready with \(threads) threads")
        touch()
        swiftwsgi_status_set_threads(status, Int32(threads))
        for slot in 0..<threads { startWorker(slot) }
        spawnThread { [self] in shedderLoop() }
        startGILProbe()
        startInterrupter()

        let applicationSignals = runtime.flatMap { DaemonSignals(runtime: $0) }
        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        var info = siginfo_t()
        while !stopping.load(ordering: .acquiring) {
            let s = sigtimedwait(&signals, &info, &timeout)
            // SIGHUP, and SIGUSR2 sent from outside, go to the application's subscribers
            // (mod_wsgi 6.1); this process's own SIGUSR2 only wakes this loop (a worker reached
            // maximum-requests).
            if s == SIGHUP || (s == SIGUSR2 && DaemonSignals.isFromOutside(info)) {
                applicationSignals?.post(s)
            } else if s == SIGUSR1 {
                evicted.store(true, ordering: .releasing)
                DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonEvicted, "evicted (SIGUSR1), restarting")
                stopping.store(true, ordering: .releasing)
            } else if s > 0 && s != SIGUSR2 && s != SIGHUP {
                terminated.store(true, ordering: .releasing)
                stopping.store(true, ordering: .releasing)
            }
            if let reason = housekeeping() {
                DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonRestarting, "\(reason), restarting")
                stopReason.withLock { $0 = Self.eventReason(reason) }
                stopping.store(true, ordering: .releasing)
            }
        }
        let reason = terminated.load(ordering: .acquiring) ? "shutdown_signal"
            : evicted.load(ordering: .acquiring) ? "eviction_signal" : stopReason.withLock { $0 }
        swiftwsgi_status_stopping(status, reason)
        // Idle workers leave; idle connections are closed, so a request an Apache child sent
        // on one fails with ECONNRESET, unread, and the child sends it to another process.
        Sys.signal(eventFD: wakeFD)
        Sys.signal(eventFD: saturatedFD)
        connections.closeIdle()
        // Finish what is running, then tear Python down — unless a request is still running
        // (a wedged thread may hold the GIL): then the process simply exits.
        // Requests ended by request-timeout are not waited for.
        let grace = terminated.load(ordering: .acquiring) ? shutdownTimeout
            : evicted.load(ordering: .acquiring) ? evictionTimeout : Double(gracefulTimeout)
        // A wedged GIL will not be given back: nothing to wait for, nothing to finalise.
        if deadlocked.load(ordering: .acquiring) { return 0 }
        // mod_wsgi publishes process_stopping before waiting for the running requests.
        var unlocked = Unlocked.enteringFromApache()  // the main thread, out of Python
        runtime?.publishProcessStopping(reason: reason, &unlocked)
        let deadline = monotonicNow() + grace
        while busySlots() > 0 && monotonicNow() < deadline { usleep(20_000) }
        runtime?.telemetryStopped()
        if active.load(ordering: .acquiring) == 0 {
            probing.withLock { running in
                running = false
                interrupting.withLock { $0 = false }
                runtime?.shutdown(&unlocked)
            }
        }
        return 0
    }

    /// threads=0: the service scripts run on the process's main thread, which Python also takes
    /// for its main thread (as in mod_wsgi: asyncio's signal handling, which the
    /// mod_wsgi-telemetry ingester's service uses, works only there), while a thread of its own
    /// waits for a signal or restart-interval; at a stop the scripts get SystemExit, then
    /// shutdown-timeout to unwind, after which the process exits without them. When they
    /// return, the process is replaced.
    private func runServiceScripts(signals: sigset_t) -> Int32 {
        guard let runtime else { return 1 }
        let scripts = processConfig.importScripts
        let finished = Atomic<Bool>(false)
        let scriptThread = UInt(pthread_self())
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonReady, "daemon process ready with 0 threads: running \(scripts.count) service script(s)")
        touch()
        let applicationSignals = DaemonSignals(runtime: runtime)
        spawnThread { [self] in
            mainThread = pthread_self()
            var signals = signals
            var timeout = timespec(tv_sec: 1, tv_nsec: 0)
            var info = siginfo_t()
            while !stopping.load(ordering: .acquiring) {
                let s = sigtimedwait(&signals, &info, &timeout)
                // As in a daemon serving requests: SIGHUP and SIGUSR2 from outside go to the
                // scripts' signal subscribers (mod_wsgi 6.1).
                if s == SIGHUP || (s == SIGUSR2 && DaemonSignals.isFromOutside(info)) {
                    applicationSignals?.post(s)
                } else if s > 0 && s != SIGUSR2 {
                    terminated.store(s != SIGUSR1, ordering: .releasing)
                    evicted.store(s == SIGUSR1, ordering: .releasing)
                    stopping.store(true, ordering: .releasing)
                }
                let now = monotonicNow()
                if restartInterval > 0 && now - started >= restartInterval {
                    DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonRestarting, "restart-interval reached, restarting")
                    stopReason.withLock { $0 = "restart_interval" }
                    stopping.store(true, ordering: .releasing)
                }
            }
            if finished.load(ordering: .acquiring) { return }  // they returned: the main thread goes on
            swiftwsgi_status_stopping(status, stopReasonNow())
            var unlocked = Unlocked.enteringFromApache()  // a thread of our own, out of Python
            for script in scripts {
                runtime.raiseSystemExit(inThread: scriptThread, applicationGroup: script.applicationGroup, &unlocked)
            }
            let deadline = monotonicNow() + max(shutdownTimeout, 1)
            while !finished.load(ordering: .acquiring) && monotonicNow() < deadline { usleep(20_000) }
            if !finished.load(ordering: .acquiring) {
                DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .serviceScriptsStuck, "the service scripts did not stop within shutdown-timeout; exiting")
                _exit(0)
            }
        }
        var unlocked = Unlocked.enteringFromApache()  // the main thread, before the scripts
        runtime.runImportScripts(scripts, &unlocked)
        finished.store(true, ordering: .releasing)
        if !stopping.load(ordering: .acquiring) { requestRestart("the service scripts returned") }
        // For mod_status: a signal's name, else the reason set by restart-interval or requestRestart.
        swiftwsgi_status_stopping(status, stopReasonNow())
        runtime.shutdown(&unlocked)
        return 0
    }

    /// Why the process stops: a signal's name, else the reason recorded.
    private func stopReasonNow() -> String {
        terminated.load(ordering: .acquiring) ? "shutdown_signal"
            : evicted.load(ordering: .acquiring) ? "eviction_signal" : stopReason.withLock { $0 }
    }

    /// Stops taking requests and wakes the main thread, which finishes the running ones and
    /// exits; the Apache parent starts a fresh process.
    private func requestRestart(_ reason: String) {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) { return }
        stopReason.withLock { $0 = Self.eventReason(reason) }
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .daemonRestarting, "\(reason), restarting")
        if let mainThread { pthread_kill(mainThread, SIGUSR2) }
    }

    /// mod_wsgi's shutdown_reason for a restart reason logged above.
    private static func eventReason(_ reason: String) -> String {
        for (fragment, keyword) in [("restart-interval", "restart_interval"), ("inactivity-timeout", "inactivity_timeout"),
                                    ("request-timeout", "request_timeout"), ("deadlock", "deadlock_timeout"),
                                    ("script changed", "script_reload"), ("maximum requests", "maximum_requests"),
                                    ("service scripts returned", "service_script_returned")]
        where reason.contains(fragment) {
            return keyword
        }
        return "shutdown_signal"
    }

    /// deadlock-timeout: a thread takes the GIL once a second; the main thread's housekeeping
    /// restarts the process when it has not managed to for deadlock-timeout seconds (a C
    /// extension blocking without releasing the GIL stops every thread of the process).
    private func startGILProbe() {
        guard deadlockTimeout > 0, let runtime else { return }
        lastGIL.store(Int64(monotonicNow() * 1000), ordering: .releasing)
        spawnThread { [self] in
            var unlocked = Unlocked.enteringFromApache()  // a thread of our own, never in Python
            while true {
                let probed = probing.withLock { running -> Bool in
                    guard running else { return false }
                    runtime.probeGIL(&unlocked)
                    return true
                }
                guard probed else { return }
                lastGIL.store(Int64(monotonicNow() * 1000), ordering: .releasing)
                usleep(1_000_000)
            }
        }
    }

    private func busySlots() -> Int {
        slots.reduce(0) { n, slot in n + (slot.running.withLock { $0 != nil } ? 1 : 0) }
    }

    private func touch() {
        lastActivity.store(Int64(monotonicNow() * 1000), ordering: .releasing)
    }

    /// The periodic checks of the main thread: returns why the process should be replaced.
    private func housekeeping() -> String? {
        let now = monotonicNow()
        if getppid() != parent { return "the Apache parent process has gone" }
        if restartInterval > 0 && now - started >= restartInterval { return "restart-interval reached" }
        if deadlockTimeout > 0 && now - Double(lastGIL.load(ordering: .acquiring)) / 1000 >= deadlockTimeout {
            deadlocked.store(true, ordering: .releasing)
            return "Python GIL held for more than deadlock-timeout (\(Int(deadlockTimeout))s): deadlock"
        }
        if inactivityTimeout > 0 && active.load(ordering: .acquiring) == 0
            && now - Double(lastActivity.load(ordering: .acquiring)) / 1000 >= inactivityTimeout {
            return "inactivity-timeout reached"
        }
        if requestTimeout > 0 {
            var expired = 0
            var interrupted = false
            for (index, slot) in slots.enumerated() {
                slot.running.withLock { running in
                    guard var r = running, now - r.started > requestLimit else { return }
                    if interruptTimeout > 0 {
                        if r.interrupted == nil {
                            r.interrupted = now
                            running = r
                            let note = "request-timeout=\(Int(requestTimeout)) s, that is \(RequestInterrupt.seconds(requestLimit)) s with \(threads) threads"
                            DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .requestTimeoutRaising, "request-timeout: a request of thread \(index) has run \(RequestInterrupt.seconds(now - r.started)) s (\(note)): raising mod_wsgi.RequestTimeout in it (interrupt-timeout=\(Int(interruptTimeout)) s)")
                            interrupts.withLock { $0.append((index, r.request, note)) }
                            interrupted = true
                            return
                        }
                        if let at = r.interrupted, now - at <= interruptTimeout { return }
                    }
                    r.connection.terminate(status: 504)
                    running = nil
                    expired += 1
                }
            }
            if interrupted { Sys.signal(eventFD: interruptFD) }
            if expired > 0 {
                return interruptTimeout > 0
                    ? "request-timeout: \(expired) request(s) did not unwind within interrupt-timeout (\(Int(interruptTimeout)) s) of mod_wsgi.RequestTimeout (blocked outside Python code); answered 504"
                    : "request-timeout of \(Int(requestTimeout)) s (\(RequestInterrupt.seconds(requestLimit)) s with \(threads) threads) exceeded by \(expired) request(s); answered 504"
            }
        }
        return nil
    }

    /// interrupt-timeout: a thread that raises mod_wsgi.RequestTimeout in the requests the main
    /// thread's housekeeping found over their time. It may wait for a GIL that a request keeps
    /// (C code): then interrupt-timeout runs out and the process is replaced all the same. Not
    /// during or after Python's shutdown (`interrupting`).
    private func startInterrupter() {
        guard raisesRequestTimeout, let runtime, let fd = try? Sys.eventFD() else { return }
        interruptFD = fd
        spawnThread { [self] in
            var unlocked = Unlocked.enteringFromApache()  // a thread of our own, never in Python but here
            runtime.prepareInterrupterThread(unlocked)
            while true {
                Sys.wait(eventFD: fd)
                for item in interrupts.withLock({ q in defer { q.removeAll() }; return q }) {
                    let raised = interrupting.withLock { running -> Bool in
                        guard running else { return false }
                        return runtime.interrupt(slots[item.slot].interrupt, request: item.request, note: item.note, &unlocked)
                    }
                    if !raised {
                        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, .requestTimeoutMissed, "request-timeout: the request of thread \(item.slot) ended before mod_wsgi.RequestTimeout was raised")
                    }
                }
            }
        }
    }

    private func startWorker(_ slot: Int) {
        spawnThread(stackSize: stackSize) { [self] in workerLoop(slot: slot) }
    }

    /// A free worker waits for one event: a new connection on the listening socket (accepted,
    /// the socket re-armed at once for the next free worker) or a request on an idle
    /// connection (claimed). It serves one request, then hands the connection back.
    private func workerLoop(slot: Int) {
        while !stopping.load(ordering: .acquiring) {
            let token: UInt64
            do {
                guard let t = try Sys.epollWaitOne(epoll, timeoutMilliseconds: -1) else { continue }
                token = t
            } catch {
                usleep(10_000)
                continue
            }
            let connection: FrameConnection
            let id: UInt64
            switch token {
            case Self.wakeToken:
                continue
            case Self.listenToken:
                let fd = try? Sys.accept(listenFD)  // nil: another process took it
                try? Sys.epollWatch(epoll, listenFD, token: Self.listenToken, add: false, oneShot: true)
                guard let fd else { continue }
                guard let newID = connections.register() else { Sys.close(fd); continue }
                Sys.setTimeouts(fd, seconds: socketTimeout)
                Sys.setBufferSizes(fd, send: sendBufferSize, receive: receiveBufferSize)
                connection = FrameConnection(fd: fd)
                id = newID
            default:
                guard let claimed = connections.claim(token) else { continue }
                connection = claimed
                id = token
            }
            // A process that began to stop closes the connection unread (dropping it): the
            // Apache child sees ECONNRESET and retries elsewhere.
            guard serveOne(connection, slot: slot) else { continue }
            connections.release(id, connection) { () throws(SystemError) in
                // Before the call: once armed, another worker may own the connection.
                let add = !connection.watched
                connection.watched = true
                try Sys.epollWatch(epoll, connection.fd, token: id, add: add, oneShot: true)
            }
        }
    }

    /// While every worker is busy, requests sent on this process's idle connections would wait
    /// for one of its threads although another process of the group may be free (mod_wsgi
    /// connects anew for each request, so its requests go to whichever process accepts
    /// first). The shedder then takes the events itself: a connection with a request is closed
    /// unread (the Apache child gets ECONNRESET and connects again, through the group's shared
    /// backlog), and the listening socket stays disarmed until a worker is free.
    private func shedderLoop() {
        while !stopping.load(ordering: .acquiring) {
            Sys.wait(eventFD: saturatedFD)  // until a worker makes the process saturated
            while !stopping.load(ordering: .acquiring) && active.load(ordering: .acquiring) >= threads {
                guard let token = try? Sys.epollWaitOne(epoll, timeoutMilliseconds: 20) else { continue }
                let saturated = active.load(ordering: .acquiring) >= threads
                switch token {
                case Self.wakeToken:
                    continue
                case Self.listenToken:
                    if saturated {
                        listenParked.store(true, ordering: .releasing)
                        // A worker that became free meanwhile may have looked before the store.
                        if active.load(ordering: .acquiring) < threads { unparkListener() }
                    } else {
                        try? Sys.epollWatch(epoll, listenFD, token: Self.listenToken, add: false, oneShot: true)
                    }
                default:
                    guard let connection = connections.claim(token) else { continue }
                    if saturated { continue }  // dropped: closed unread
                    connections.release(token, connection) { () throws(SystemError) in
                        try Sys.epollWatch(epoll, connection.fd, token: token, add: false, oneShot: true)
                    }
                }
            }
        }
    }

    private func unparkListener() {
        if listenParked.exchange(false, ordering: .acquiringAndReleasing) {
            try? Sys.epollWatch(epoll, listenFD, token: Self.listenToken, add: false, oneShot: true)
        }
    }

    /// Serves the request waiting on connection; returns whether the connection can carry
    /// another one.
    private func serveOne(_ connection: FrameConnection, slot: Int) -> Bool {
        // Marked busy before the stop check: the main thread, once it set `stopping`, either
        // sees this slot busy and waits, or this thread sees `stopping` and leaves.
        let request = slots[slot].requests.add(1, ordering: .relaxed).newValue
        if raisesRequestTimeout { slots[slot].interrupt.arm(request: request) }
        let admitted: Bool = slots[slot].running.withLock { running in
            running = Running(connection: connection, started: monotonicNow(), request: request)
            if stopping.load(ordering: .acquiring) {
                running = nil
                return false
            }
            return true
        }
        guard admitted else { return false }
        // No connection becomes idle while every worker is busy: with none idle now, there is
        // nothing to shed (a new connection waits in the shared backlog for any process).
        if active.add(1, ordering: .acquiringAndReleasing).newValue >= threads && connections.hasIdle {
            Sys.signal(eventFD: saturatedFD)
        }
        var ignoresActivity = false
        let reusable = serve(connection, slot: slot, ignoresActivity: &ignoresActivity)
        slots[slot].running.withLock { $0 = nil }
        if !ignoresActivity { touch() }
        active.subtract(1, ordering: .acquiringAndReleasing)
        unparkListener()
        if reusable == nil { return false }  // the Apache child closed an idle connection
        let count = served.add(1, ordering: .acquiringAndReleasing).newValue
        if maximumRequests > 0 && count >= maximumRequests {
            requestRestart("maximum requests reached")
        }
        return reusable == true
    }

    /// Runs one request: nil when none came (the peer closed), else whether the connection is
    /// still in a state to carry the next one.
    private func serve(_ connection: FrameConnection, slot: Int, ignoresActivity: inout Bool) -> Bool? {
        guard let runtime, let frame = try? connection.readFrame() else { return nil }
        guard frame.0 == .request, let request = try? DaemonRequest(connection: connection, payload: frame.1)
        else { return false }
        ignoresActivity = request.ignoresActivity
        let waited = monotonicWallSeconds() - Double(request.queueStart) / 1e6
        // For mod_status: out of the queue, then busy (its reader loads them in the other order,
        // so a busy thread's request is never also seen waiting).
        swiftwsgi_queue_taken(queueCells, queueCellCount, request.queueCell, request.queueMark)
        swiftwsgi_status_busy(self.status, 1)
        defer { swiftwsgi_status_busy(self.status, -1) }
        swiftwsgi_status_served(self.status, request.queueStart > 0 ? Int64(max(0, waited) * 1e6) : 0)
        let status: Int32
        if queueTimeout > 0 && request.queueStart > 0 && waited >= queueTimeout {
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, .queueTimeout, "queue-timeout: request waited \(Int(waited))s for a daemon thread; answering 504")
            status = 504
        } else {
            var unlocked = Unlocked.enteringFromApache()  // a worker thread, between requests
            let interrupt = raisesRequestTimeout ? slots[slot].interrupt : nil  // nothing to pay without interrupt-timeout
            status = request.withRequest { runtime.handle($0, interrupt: interrupt, &unlocked) } ?? 500
        }
        var b = FrameBuilder()
        b.i32(status)
        do {
            try connection.queue(.end, b.bytes)
            try connection.flush()
        } catch {
            return false
        }
        return !request.failed && connection.isReusable
    }
}
