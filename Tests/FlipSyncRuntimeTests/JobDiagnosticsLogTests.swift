import FlipSyncCore
import FlipSyncRuntime
import InMemoryLogging
import Logging
import Testing

@Suite("Job diagnostics in the journal", .timeLimit(.minutes(1)))
struct JobDiagnosticsLogTests {
    @Test("in the order given: a warning at warning level as job-warning; an error at error level as job-invalid, saying its job is not loaded")
    func warningsAndErrors() {
        let handler = InMemoryLogHandler()
        Diagnostic.log([Diagnostic(file: "jobs/a.toml", line: 3, severity: .warning, message: "pushes prices"),
                        Diagnostic(file: "jobs/b.toml", line: 1, message: "no schedule")], to: Logger(label: "test") { _ in handler })
        #expect(handler.entries == [
            .init(level: .warning, message: "jobs/a.toml:3: warning: pushes prices", metadata: ["event": "job-warning"]),
            .init(level: .error, message: "jobs/b.toml:1: error: no schedule (this job is not loaded; the others run)", metadata: ["event": "job-invalid"]),
        ])
    }
}
