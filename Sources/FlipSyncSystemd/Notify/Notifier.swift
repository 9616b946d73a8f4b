import CSystemd
import FlipSyncCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Tells systemd about the daemon's state with `sd_notify(3)`: ready, reloading, stopping, a
/// one-line status, watchdog pings, more time to start or stop.
///
/// The notifier is active when `NOTIFY_SOCKET` was set at ``fromEnvironment()`` (the unit has
/// `Type=notify`); an inactive notifier sends nothing, so callers never check. The environment is
/// left as it is (libsystemd reads `NOTIFY_SOCKET` on every send, abstract `@` sockets included).
/// Messages are sent one at a time in call order; a failed send is ignored, because systemd
/// going away must not stop the daemon's work.
///
/// Status texts are one line: newlines and other control characters become spaces. A status equal
/// to the last one sent is not sent again.
public final class Notifier: Sendable {
    /// Whether there is a service manager to notify.
    public let isActive: Bool
    /// How often to call ``watchdog()``: half of `WATCHDOG_USEC`, when the watchdog is enabled
    /// for this process (`WATCHDOG_PID` unset or equal to our pid); nil otherwise.
    public let watchdogInterval: TimeSpan?

    /// The last status sent; held while sending, which also keeps messages in call order.
    private let lastStatus = Mutex<String?>(nil)

    init(isActive: Bool, watchdogInterval: TimeSpan?) {
        self.isActive = isActive
        self.watchdogInterval = watchdogInterval
    }

    /// A notifier for this process, from `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    public static func fromEnvironment() -> Notifier {
        Notifier(isActive: FileSystem.environment("NOTIFY_SOCKET") != nil,
                 watchdogInterval: watchdogInterval(microseconds: FileSystem.environment("WATCHDOG_USEC"),
                                                    pid: FileSystem.environment("WATCHDOG_PID"), ownPID: getpid()))
    }

    /// Half the watchdog timeout (at least 1 ms) if the watchdog applies to `ownPID`.
    static func watchdogInterval(microseconds: String?, pid: String?, ownPID: pid_t) -> TimeSpan? {
        guard let microseconds, let usec = UInt64(microseconds), usec > 0 else { return nil }
        if let pid, pid_t(pid) != ownPID { return nil }
        return TimeSpan(milliseconds: max(1, Int64(clamping: usec / 2 / 1000)))
    }

    /// Start-up is complete: `READY=1`, with `STATUS=` if given. Also ends a reload.
    public func ready(status: String? = nil) {
        send("READY=1", status: status)
    }

    /// A one-line status for `systemctl status`: `STATUS=…`, unless it equals the last one sent.
    public func status(_ text: String) {
        send(nil, status: text)
    }

    /// A reload has begun: `RELOADING=1` and `MONOTONIC_USEC=` (CLOCK_MONOTONIC now, as systemd
    /// 253+ requires for `Type=notify-reload`) in one message. Call ``ready(status:)`` when the
    /// reload is done, whether it worked or not.
    public func reloading() {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let usec = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        send("RELOADING=1\nMONOTONIC_USEC=\(usec)", status: nil)
    }

    /// Shutdown has begun: `STOPPING=1`, with `STATUS=` if given.
    public func stopping(status: String? = nil) {
        send("STOPPING=1", status: status)
    }

    /// Asks for more time to start, reload or stop: `EXTEND_TIMEOUT_USEC=` (from now).
    public func extendTimeout(microseconds: UInt64) {
        send("EXTEND_TIMEOUT_USEC=\(microseconds)", status: nil)
    }

    /// The daemon is alive: `WATCHDOG=1`. Call every ``watchdogInterval``.
    public func watchdog() {
        send("WATCHDOG=1", status: nil)
    }

    /// Sends `fields` and `STATUS=status` as one message; a status equal to the last one is left
    /// out, and a message left empty is not sent.
    private func send(_ fields: String?, status: String?) {
        guard isActive else { return }
        lastStatus.withLock { last in
            var message = fields ?? ""
            if let status {
                let line = Self.oneLine(status)
                if line != last {
                    message += (message.isEmpty ? "" : "\n") + "STATUS=" + line
                    last = line
                }
            }
            guard !message.isEmpty else { return }
            _ = sd_notify(0, message)
        }
    }

    /// `text` with every control character (newlines included) replaced by a space.
    static func oneLine(_ text: String) -> String {
        var line = ""
        line.unicodeScalars.append(contentsOf: text.unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F ? " " : $0
        })
        return line
    }
}
