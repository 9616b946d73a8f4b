import FlipSyncCore
import Foundation
import Testing
@testable import FlipSyncControl

@Suite("Wire format", .timeLimit(.minutes(2)))
struct WireFormatTests {
    @Test("a request is one line of JSON keyed by command, keys sorted", arguments: [
        (ControlRequest.list, #"{"command":"list"}"#),
        (.status, #"{"command":"status"}"#),
        (.run(job: "nightly-repricing", wait: true), #"{"command":"run","job":"nightly-repricing","wait":true}"#),
        (.run(job: "a/b", wait: false), #"{"command":"run","job":"a/b","wait":false}"#),
        (.pause(job: "nightly-repricing"), #"{"command":"pause","job":"nightly-repricing"}"#),
        (.resume(job: "nightly-repricing"), #"{"command":"resume","job":"nightly-repricing"}"#),
    ])
    func requestLine(request: ControlRequest, json: String) throws {
        #expect(ControlWire.line(request) == Array((json + "\n").utf8))
        #expect(try ControlWire.request(from: Array(json.utf8)) == request)
    }

    @Test("a string with a newline still makes one line")
    func newlineInAJobName() throws {
        let line = ControlWire.line(ControlRequest.pause(job: "a\nb"))
        #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(try ControlWire.request(from: Array(line.dropLast())) == .pause(job: "a\nb"))
    }

    @Test("wait may be left out and means false; unknown keys are ignored")
    func lenientRequest() throws {
        let line = #"{"command":"run","job":"x","extra":1}"#
        #expect(try ControlWire.request(from: Array(line.utf8)) == .run(job: "x", wait: false))
    }

    @Test("a response leaves out what it does not carry and sorts its keys")
    func responseLine() throws {
        #expect(String(decoding: ControlWire.line(ControlResponse.failure("no job \"x\"")), as: UTF8.self)
                == #"{"error":"no job \"x\"","final":true,"ok":false}"# + "\n")
        #expect(String(decoding: ControlWire.line(ControlResponse(status: "idle", final: false)), as: UTF8.self)
                == #"{"final":false,"ok":true,"status":"idle"}"# + "\n")
    }

    @Test("a response with jobs and a run reads back the same")
    func responseRoundTrip() throws {
        let response = ControlResponse(jobs: [Fixture.job], run: Fixture.run, finalStatus: .timedOut, status: "busy", final: false)
        #expect(try ControlWire.response(from: Array(ControlWire.line(response).dropLast())) == response)
    }

    @Test("a malformed request is explained in a few words", arguments: [
        ("hello", "malformed request: not valid JSON"),
        ("", "malformed request: not valid JSON"),
        ("[1]", "malformed request: expected a JSON object"),
        ("{}", #"malformed request: missing "command""#),
        (#"{"command":"fly"}"#, #"malformed request: unknown command "fly" (expected list, status, run, pause, resume or nodes)"#),
        (#"{"command":"run"}"#, #"malformed request: missing "job""#),
        (#"{"command":"pause","job":null}"#, #"malformed request: "job" is null"#),
        (#"{"command":"run","job":"x","wait":"yes"}"#, #"malformed request: "wait" is not true or false"#),
    ])
    func malformedRequest(line: String, message: String) {
        #expect(throws: ControlError.self) { try ControlWire.request(from: Array(line.utf8)) }
        do {
            _ = try ControlWire.request(from: Array(line.utf8))
        } catch {
            #expect(error.description == message)
        }
    }
}
