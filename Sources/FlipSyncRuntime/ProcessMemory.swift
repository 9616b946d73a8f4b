import CMalloc

/// The process's malloc, set up before any thread exists.
public enum ProcessMemory {
    /// glibc's arenas are capped at this many (its default is 8 per core).
    public static let mallocArenas: Int32 = 2

    /// Caps glibc's malloc arenas at `mallocArenas` unless the environment sets
    /// `MALLOC_ARENA_MAX` (then that value stands). Called first thing by `flipsyncd`,
    /// `flipsyncctl` and the bench. With glibc's default, memory freed on one thread's arena is
    /// not reused by another's, so a sweep's work moving between the event loops, Swift's
    /// cooperative threads and GRDB's queues left each arena at its high-water mark: at 100,000
    /// listings the process held 112–137 MiB after a first night (after `malloc_trim`) and
    /// peaked at 169–200 MiB in the second, against 69–97 and 137–140 MiB with two arenas
    /// (two and three runs, BENCHMARKS.md). Returns whether it set the cap.
    @discardableResult
    public static func capMallocArenas() -> Bool {
        flipsync_cap_malloc_arenas(mallocArenas) == 1
    }
}
