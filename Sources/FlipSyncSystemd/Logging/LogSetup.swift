import Logging
import Synchronization

/// Chooses where the process logs, once, at start-up.
public enum LogSetup {
    private static let bootstrapped = Mutex(false)

    /// Bootstraps swift-log's `LoggingSystem` with a ``JournalLogHandler`` when standard error is
    /// connected to the journal (``JournalLogHandler/journalIsStderr()``) or `forceJournal` is
    /// set, and with a ``StderrLogHandler`` otherwise; every logger starts at `level`.
    ///
    /// Only the first call has an effect: `LoggingSystem.bootstrap` may run once per process, and
    /// later calls return without changing anything.
    public static func bootstrap(identifier: String, level: Logger.Level, forceJournal: Bool = false) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        let journal = forceJournal || JournalLogHandler.journalIsStderr()
        LoggingSystem.bootstrap { _ in
            journal ? JournalLogHandler(identifier: identifier, logLevel: level) as any LogHandler
                    : StderrLogHandler(logLevel: level)
        }
    }
}
