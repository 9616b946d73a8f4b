import FlipSyncRuntime
import Foundation
import Testing

@Suite("Malloc's arenas capped at start", .timeLimit(.minutes(1)))
struct ProcessMemoryTests {
    @Test("the cap is set (glibc accepts it) unless MALLOC_ARENA_MAX is in the environment, whose value then stands")
    func environmentWins() throws {
        let before = getenv("MALLOC_ARENA_MAX").map { String(cString: $0) }
        defer {
            if let before { setenv("MALLOC_ARENA_MAX", before, 1) } else { unsetenv("MALLOC_ARENA_MAX") }
        }
        setenv("MALLOC_ARENA_MAX", "16", 1)
        #expect(!ProcessMemory.capMallocArenas(), "an operator's MALLOC_ARENA_MAX is left alone")
        unsetenv("MALLOC_ARENA_MAX")
        #expect(ProcessMemory.capMallocArenas(), "mallopt(M_ARENA_MAX, \(ProcessMemory.mallocArenas)) accepted")
    }
}
