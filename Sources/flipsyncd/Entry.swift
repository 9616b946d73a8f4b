import CConcurrencyHook
import FlipSyncRuntime
import NIOCore
import NIOPosix

/// The process's entry point. Before any task runs, SwiftNIO's event loops
/// (`MultiThreadedEventLoopGroup.singleton`, the ones the HTTP client and the system clock's
/// sleeps use) become Swift concurrency's global executor, so the daemon's tasks never run on
/// libdispatch's global queues. Once a worker of those queues has run, libdispatch keeps a
/// monitoring timer that fires every second for the life of the process (its pool monitor,
/// `_dispatch_workq_monitor_pools`); without it an idle `flipsyncd` wakes only when something
/// is due: a fire, a pruning, a watchdog ping, a signal or a control request. BENCHMARKS.md,
/// issue 15, item 8.
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

/// Whether NIO's event loops became the global executor. NIO finds Swift's hook with `dlsym`,
/// which fails when the Swift runtime is linked statically (the .deb's build: the symbol is not
/// in the dynamic symbol table); then the hook is set here, through its C declaration, which
/// the static link resolves, to the same thing NIO's does: each job to an event loop of the
/// singleton group (the current one when already on one). If neither works (another hook already
/// set), the daemon works as before but wakes once a second while idle, and says so at start.
enum GlobalExecutor {
    static let installed: Bool = {
        if NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() { return true }
        typealias Hook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void
        let hook: Hook = { job, _ in MultiThreadedEventLoopGroup.singleton.any().executor.enqueue(job) }
        return flipsync_install_enqueue_global_hook(unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)) == 1
    }()
}
