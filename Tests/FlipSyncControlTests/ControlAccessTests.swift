import Testing
@testable import FlipSyncControl

@Suite("Who may control the daemon", .timeLimit(.minutes(2)))
struct ControlAccessTests {
    static let alice = PeerCredentials(pid: 100, uid: 1000, gid: 1000, groups: [1000, 27])
    static let flipsyncGroup: UInt32 = 998

    @Test("a peer is allowed by uid, primary group or supplementary group — nothing else", arguments: [
        (ControlAccess(allowedUIDs: [0, 1000]), alice, true),
        (ControlAccess(allowedUIDs: [0]), alice, false),
        (ControlAccess(allowedUIDs: [0], allowedGroup: flipsyncGroup), alice, false),
        (ControlAccess(allowedUIDs: [0], allowedGroup: flipsyncGroup),
         PeerCredentials(pid: 100, uid: 1000, gid: flipsyncGroup), true),
        (ControlAccess(allowedUIDs: [0], allowedGroup: flipsyncGroup),
         PeerCredentials(pid: 100, uid: 1000, gid: 1000, groups: [1000, flipsyncGroup]), true),
        (ControlAccess(allowedUIDs: []), PeerCredentials(pid: 1, uid: 0, gid: 0), false),
    ])
    func allows(access: ControlAccess, peer: PeerCredentials, allowed: Bool) {
        #expect(access.allows(peer) == allowed)
    }
}
