// Swift concurrency's global-enqueue hook (swift/Runtime/Concurrency.h). Declared here so that a
// statically linked runtime, which does not export it to dlsym, still resolves it at link time.
extern void * _Nullable swift_task_enqueueGlobal_hook;

/// Sets the hook to `hook` if none is set; returns whether it did. Called once, before any task runs.
static inline int flipsync_install_enqueue_global_hook(void * _Nonnull hook) {
    if (swift_task_enqueueGlobal_hook != 0) return 0;
    swift_task_enqueueGlobal_hook = hook;
    return 1;
}
