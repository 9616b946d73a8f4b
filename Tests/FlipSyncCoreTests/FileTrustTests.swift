import Foundation
import Glibc
import Testing
@testable import FlipSyncCore

/// Job and config files are refused unless trusted: a regular file owned by root or this user,
/// writable by nobody else, in a directory writable by nobody else. Tests run as root.
@Suite("Job files: ownership, modes and file kinds", .timeLimit(.minutes(1)))
struct FileTrustTests {
    @Test("a FIFO named x.toml in the jobs directory is refused at once with its own error; the other files still load")
    func fifoDoesNotBlock() throws {
        let scratch = Scratch()
        scratch.write("good.toml", minimalRepricing)
        let fifo = scratch.path + "/x.toml"
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = ContinuousClock.now
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(catalog.jobs.map(\.name) == ["reprice"])
        #expect(diagnostics.map(\.description) == ["\(fifo):1: error: not a regular file"])
    }

    @Test("the file is read through the descriptor it was checked on: a FIFO never blocks readFile")
    func fifoReadFile() {
        let scratch = Scratch()
        let fifo = scratch.path + "/cred"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(FileSystem.readFile(fifo, limit: 1024) == .failure(.notAFile))
        #expect(FileSystem.readFile(fifo, limit: 1024, requireTrusted: false) == .failure(.notAFile))
    }

    @Test("a job file owned by nobody (uid 65534) is refused")
    func notOwned() {
        let scratch = Scratch()
        let file = scratch.write("job.toml", minimalRepricing)
        #expect(chown(file, 65534, 65534) == 0)
        let (catalog, diagnostics) = JobCatalog.load(paths: [scratch.path], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.first?.message == "file is owned by uid 65534, not by root or uid \(geteuid()) (this process's user); refusing it (fix with: chown root \(file))")
    }

    @Test("a group-writable job file is refused, whatever its group")
    func groupWritable() {
        let scratch = Scratch()
        let file = scratch.write("job.toml", minimalRepricing, mode: 0o664)
        #expect(chmod(file, 0o664) == 0)  // whatever the umask
        let (catalog, diagnostics) = JobCatalog.load(paths: [file], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.first?.message == "file is writable by its group; refusing it (fix with: chmod g-w \(file))")
    }

    @Test("a jobs directory others may write, or owned by another user, makes its files refused")
    func untrustedDirectory() {
        let scratch = Scratch()
        let jobs = scratch.path + "/jobs"
        let file = scratch.write("jobs/job.toml", minimalRepricing)
        #expect(chmod(jobs, 0o777) == 0)
        var (catalog, diagnostics) = JobCatalog.load(paths: [jobs], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.map(\.description) == ["\(file):1: error: its directory \(jobs) is writable by its group or other users (mode 0777); refusing it (fix with: chmod go-w \(jobs))"])
        #expect(chmod(jobs, 0o775) == 0)
        (catalog, _) = JobCatalog.load(paths: [jobs], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(chmod(jobs, 0o755) == 0 && chown(jobs, 65534, 65534) == 0)
        (catalog, diagnostics) = JobCatalog.load(paths: [jobs], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.first?.message.hasPrefix("its directory \(jobs) is owned by uid 65534") == true)
        #expect(chown(jobs, 0, 0) == 0)
        (catalog, diagnostics) = JobCatalog.load(paths: [jobs], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.map(\.name) == ["reprice"] && diagnostics.isEmpty)
    }

    @Test("a symlinked job file is judged by the directory it really is in")
    func symlinkTarget() {
        let scratch = Scratch()
        let elsewhere = scratch.path + "/open"
        let target = scratch.write("open/job.toml", minimalRepricing)
        #expect(chmod(elsewhere, 0o777) == 0)
        let jobs = scratch.path + "/jobs"
        try? FileManager.default.createDirectory(atPath: jobs, withIntermediateDirectories: true)
        #expect(symlink(target, jobs + "/job.toml") == 0)
        let (catalog, diagnostics) = JobCatalog.load(paths: [jobs], defaults: testDefaults, now: validationNow)
        #expect(catalog.jobs.isEmpty)
        #expect(diagnostics.first?.message.hasPrefix("its directory \(elsewhere) is writable") == true)
    }

    @Test("a config file owned by another user is refused too")
    func configNotOwned() {
        let scratch = Scratch()
        let file = scratch.write("flipsync.toml", "[daemon]\npool_size = 8\n")
        #expect(chown(file, 65534, 65534) == 0)
        let log = DiagnosticLog()
        #expect(FlipSyncConfig.load(path: file, environment: .init(workingDirectory: scratch.path), log: log) == nil)
        #expect(log.entries.first?.message.hasPrefix("file is owned by uid 65534") == true)
    }

    @Test("readFile refuses a file one byte over its limit and reads one exactly at it")
    func bounded() {
        let scratch = Scratch()
        let file = scratch.write("f", String(repeating: "x", count: 100))
        #expect(FileSystem.readFile(file, limit: 99) == .failure(.tooLarge(limit: 99)))
        #expect(FileSystem.readFile(file, limit: 100) == .success(Array(repeating: UInt8(ascii: "x"), count: 100)))
    }
}
