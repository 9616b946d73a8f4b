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

    @Test("the config's users and group resolve: uids as written, names through the user database, unknown ones warned about and left out")
    func resolving() {
        var warnings: [String] = []
        let access = ControlAccess.resolving(users: ["1234", "root", "no-such-user-flipsync"], group: "root", daemonUID: 4321,
                                             warn: { warnings.append($0) })
        #expect(access.allowedUIDs == [0, 4321, 1234])
        #expect(access.allowedGroup == 0)
        #expect(warnings == ["daemon.control_users: no user \"no-such-user-flipsync\"; ignoring it"])

        warnings = []
        let noGroup = ControlAccess.resolving(users: [], group: "no-such-group-flipsync", daemonUID: 0, warn: { warnings.append($0) })
        #expect(noGroup.allowedUIDs == [0] && noGroup.allowedGroup == nil)
        #expect(warnings == ["daemon.control_group: no group \"no-such-group-flipsync\"; only root and the daemon's user may use the control socket"])
    }
}
