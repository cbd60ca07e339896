import Glibc

/// CLOCK_MONOTONIC in seconds, comparable with Python's time.monotonic().
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
