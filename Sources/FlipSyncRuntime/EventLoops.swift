import Glibc
import NIOCore

/// How many event loops SwiftNIO's singleton group runs in this process.
public enum EventLoops {
    /// SwiftNIO's singleton group gets one event loop instead of one per core, unless the
    /// operator set SwiftNIO's own `NIO_SINGLETON_GROUP_LOOP_COUNT` (read by SwiftNIO; a value
    /// that is not a number means one per core, and it is held to 1–1024). The daemon's work is
    /// paced by the marketplaces' rate limits, not by its CPU: on one loop a sweep's tasks, their
    /// requests and the responses that resume them stay on one thread, and a sweep takes about
    /// 10 % less CPU per request than on two loops (BENCHMARKS.md, issue 15). SQLite writes
    /// keep their own thread (the group-commit drainer). Called first thing by `flipsyncd` and by
    /// the bench's `FLIPSYNC_BENCH_EXECUTOR=daemon`, before the group is used. Returns whether it
    /// set the count.
    @discardableResult
    public static func useOneUnlessConfigured() -> Bool {
        guard getenv("NIO_SINGLETON_GROUP_LOOP_COUNT") == nil else { return false }
        NIOSingletons.groupLoopCountSuggestion = 1
        return true
    }
}
