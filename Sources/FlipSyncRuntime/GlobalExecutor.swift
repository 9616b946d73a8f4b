import CConcurrencyHook
import NIOCore
import NIOPosix
import Synchronization

/// SwiftNIO's event loops (`MultiThreadedEventLoopGroup.singleton`, the ones the HTTP client and
/// the system clock's sleeps use) as Swift concurrency's global executor. Installed first thing by
/// `flipsyncd` and by the bench's `FLIPSYNC_BENCH_EXECUTOR=daemon`, before any task runs.
///
/// Why not libdispatch's pool: once a worker of its global queues has run, libdispatch keeps a
/// monitoring timer that fires every second for the life of the process
/// (`_dispatch_workq_monitor_pools`); on the event loops an idle `flipsyncd` wakes only when
/// something is due (BENCHMARKS.md, issue 15, item 8).
///
/// Why not SwiftNIO's own `NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`:
/// it runs each job *as the event loop's serial executor*, so Swift's runtime believes every
/// task is isolated to that loop. A task is then never on the generic executor it asked for:
/// every hop to it (on return from an actor, at the start of a nonisolated async function the
/// optimizer kept a hop for) cannot run inline and goes round the loop's queue as a new job.
/// Here each job runs on the generic executor, as libdispatch's pool runs it, on the current
/// event loop (the group's `any()` is the current loop when called from one), so those hops
/// cost nothing and a free actor is entered on the same thread at once. BENCHMARKS.md, issue 15.
///
/// The hook is set through its C declaration (`CConcurrencyHook`), which also resolves when the
/// Swift runtime is linked statically (the .deb's build), where `dlsym` cannot find it.
public enum GlobalExecutor {
    /// Whether the event loops became the global executor (false when another hook was set
    /// first: then tasks run on libdispatch's pool, and an idle process wakes once a second).
    public static let installed: Bool = {
        typealias Hook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void
        let hook: Hook = { job, _ in
            jobs.add(1, ordering: .relaxed)
            MultiThreadedEventLoopGroup.singleton.any().execute { runOnGenericExecutor(job) }
        }
        return flipsync_install_enqueue_global_hook(unsafeBitCast(hook, to: UnsafeMutableRawPointer.self)) == 1
    }()

    /// The jobs the hook has handed to the event loops (a task's start, and each resumption or
    /// hop that is not run inline). For the tests.
    public static let jobs = Atomic<Int>(0)

    /// Runs `job` on the current thread as the generic executor: what libdispatch's pool does
    /// with a global job (`swift_job_run(job, SerialExecutorRef::generic())`).
    static func runOnGenericExecutor(_ job: UnownedJob) {
        swiftJobRun(job, generic)
    }

    /// The runtime's generic executor (`SerialExecutorRef::generic()` in swift/ABI/Executor.h):
    /// no identity and no implementation, two zero words.
    private static let generic: UnownedSerialExecutor = {
        precondition(MemoryLayout<UnownedSerialExecutor>.size == 2 * MemoryLayout<UInt>.size)
        return unsafeBitCast((UInt(0), UInt(0)), to: UnownedSerialExecutor.self)
    }()
}

/// The runtime's job entry, as the standard library declares it for `UnownedJob.runSynchronously(on:)`.
@_silgen_name("swift_job_run")
private func swiftJobRun(_ job: UnownedJob, _ executor: UnownedSerialExecutor)
