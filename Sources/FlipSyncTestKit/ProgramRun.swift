import Foundation

/// What a program a test ran printed, and how it exited.
public struct ProgramRun: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// Runs `program` with `arguments` (and `environment` over this process's), waits for it to
/// exit and returns its status and output. Both pipes are drained at once (stderr on a thread of
/// its own), so a program that fills one while the other is read never blocks. Not for a program
/// that leaves a child holding the pipes: the read ends only when every writer has closed them.
public func runProgram(_ program: String, _ arguments: [String], environment: [String: String] = [:]) throws -> ProgramRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let errors = ErrorCollector()
    let reader = Thread { errors.data = err.fileHandleForReading.readDataToEndOfFile(); errors.done.signal() }
    reader.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    errors.done.wait()
    process.waitUntilExit()
    return ProgramRun(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                      stderr: String(decoding: errors.data, as: UTF8.self))
}

/// The stderr reader's result, handed over once `done` is signalled.
private final class ErrorCollector: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
