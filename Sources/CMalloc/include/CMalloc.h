#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/// Caps glibc's malloc arenas at `arenas`, unless the environment sets MALLOC_ARENA_MAX (the
/// operator's value wins: glibc has read it already). Returns 1 when it set the cap.
///
/// glibc gives each thread that meets a locked arena a new one, up to 8 per core; memory freed in
/// one arena is reused only there, so a process whose work moves between threads (event loops,
/// Swift's cooperative pool, GRDB's queues) keeps each arena's high-water mark. Called first thing
/// in `main`, before any thread exists.
static inline int flipsync_cap_malloc_arenas(int arenas) {
#if defined(__GLIBC__)
    if (getenv("MALLOC_ARENA_MAX") != NULL) return 0;
    return mallopt(M_ARENA_MAX, arenas) == 1;
#else
    (void)arenas;
    return 0;
#endif
}
