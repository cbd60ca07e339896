@preconcurrency import CSwiftWSGI
import Glibc

/// Apache's scoreboard as read by `ApacheOps.readScoreboard`: plain values, strings copied.
public struct Scoreboard: Sendable {
    public struct Worker: Sendable {
        let thread_num: Int32, generation: Int32, status: CChar
        let access_count: UInt, bytes_served: UInt64
        let start_time: Int64, stop_time: Int64, last_used: Int64
        let client: [CChar], request: [CChar], vhost: [CChar]

        init(_ w: swiftwsgi_scoreboard_worker_t) {
            func copy(_ s: UnsafePointer<CChar>?) -> [CChar] {
                guard let s else { return [0] }
                return Array(UnsafeBufferPointer(start: s, count: strlen(s) + 1))
            }
            thread_num = w.thread_num; generation = w.generation; status = w.status
            access_count = w.access_count; bytes_served = w.bytes_served
            start_time = w.start_time; stop_time = w.stop_time; last_used = w.last_used
            client = copy(w.client); request = copy(w.request); vhost = copy(w.vhost)
        }
    }

    public struct Process: @unchecked Sendable {
        let info: swiftwsgi_scoreboard_process_t
        var workers: [Worker]
    }

    nonisolated(unsafe) var server = swiftwsgi_scoreboard_t()
    var processes: [Process] = []
}
