import FlipSyncRuntime

/// The process's entry point. Before any task runs, SwiftNIO's event loops become Swift
/// concurrency's global executor (`GlobalExecutor`), so the daemon's tasks never run on
/// libdispatch's global queues and an idle `flipsyncd` wakes only when something is due: a
/// fire, a pruning, a watchdog ping, a signal or a control request. BENCHMARKS.md, issue 15,
/// item 8.
///
/// The rest of the daemon keeps off those queues too: sleeps are event-loop timers
/// (`SystemSchedulerClock`), blocking work runs on threads or serial queues of its own (the
/// control server's threads, the group-commit drainer, the reload's reader).
///
/// One event loop (`EventLoops.useOneUnlessConfigured`), so the tasks and their HTTP connections
/// share one thread and a response resumes its task without a hop to another thread.
@main
enum Entry {
    static func main() async {
        ProcessMemory.capMallocArenas()
        EventLoops.useOneUnlessConfigured()
        _ = GlobalExecutor.installed
        await FlipSyncDaemon.main()
    }
}
