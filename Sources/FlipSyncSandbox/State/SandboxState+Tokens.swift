import FlipSyncCore
import Foundation
import Synchronization

/// Tokens: issued by the token routes, checked on every authenticated request.
extension SandboxState {
    func issueToken(kind: IssuedToken.Kind) -> String {
        // A malformed fault replaces the answer: the token is never handed out, so none is issued.
        if SandboxFaultMiddleware.answerDiscarded { return "" }
        let now = clock.monotonicMilliseconds()
        return inner.withLock { s in
            s.tokenCounter += 1
            var rng = SeededGenerator(seed: UInt64(s.tokenCounter) &* 0x2545_F491_4F6C_DD1D ^ UInt64(bitPattern: now))
            let token = "v^1.1#i^1#sandbox#\(kind.rawValue)#\(s.tokenCounter)#\(String(rng.next(), radix: 36))\(String(rng.next(), radix: 36))"
            s.tokens[token] = IssuedToken(kind: kind, expiresAt: now + tokenLifetime.milliseconds)
            s.tokensIssued[kind.rawValue, default: 0] += 1
            return token
        }
    }

    enum TokenCheck { case valid(IssuedToken.Kind), missing, invalid, expired }

    func check(bearer: String?) -> TokenCheck {
        guard let bearer, bearer.hasPrefix("Bearer ") else { return .missing }
        let now = clock.monotonicMilliseconds()
        return inner.withLock { s in
            guard let token = s.tokens[String(bearer.dropFirst(7))] else { return .invalid }
            return token.expiresAt > now ? .valid(token.kind) : .expired
        }
    }

    /// Every token issued so far expires now (as if their lifetime had passed).
    public func expireAllTokens() {
        let now = clock.monotonicMilliseconds()
        inner.withLock { s in
            for key in s.tokens.keys { s.tokens[key]?.expiresAt = now }
        }
    }
}
