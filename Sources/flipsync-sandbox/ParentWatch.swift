import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `--exit-with-parent`: this process ends when the process that started it ends, so a bench or
/// test harness killed by a signal leaves no sandbox behind.
///
/// A thread waits in `poll` on a pidfd of the parent (Linux 5.3+), readable once the parent has
/// exited: no wake-ups meanwhile. Where `pidfd_open` is refused (or `poll` fails), the thread
/// checks the parent's pid once a second instead: an orphan is re-parented, so its parent pid
/// changes, and the kernel re-parents before it marks the pidfd readable. The parent is the one
/// at start-up, whatever its pid (a harness may be pid 1 in a container).
enum ParentWatch {
    static func start() {
        let parent = getppid()
        let thread = Thread {
            let fd = pidfdOpen(parent)
            // Still our parent once its pidfd is open: the pidfd is of the live parent, not of a
            // process that took its pid after it died.
            if fd >= 0, getppid() == parent {
                var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                while poll(&entry, 1, -1) < 0, errno == EINTR {}
            }
            while getppid() == parent { sleep(1) }
            stop(parent)
        }
        thread.name = "parent-watch"
        thread.start()
    }

    /// glibc's `pidfd_open` (2.36; not in Swift's Glibc module, so looked up by name), or -1.
    private static func pidfdOpen(_ pid: pid_t) -> Int32 {
        typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
        guard let symbol = dlsym(nil, "pidfd_open") else { return -1 }
        return unsafeBitCast(symbol, to: PidfdOpen.self)(pid, 0)
    }

    private static func stop(_ parent: pid_t) -> Never {
        FileHandle.standardError.write(Data("flipsync-sandbox: the process that started it (pid \(parent)) has ended; stopping\n".utf8))
        _exit(0)
    }
}
