// What a worker process needs from C: calls Swift cannot make (prctl is variadic) and code that must
// run inside a signal handler, where only async-signal-safe calls are allowed.
#ifndef JOBHOST_WORKER_SUPPORT_H
#define JOBHOST_WORKER_SUPPORT_H

#include <spawn.h>

/// A pipe whose ends are close-on-exec from the start (pipe2 is not in Swift's Glibc module).
/// Returns 0, or -1 with errno set.
int jobhost_cloexec_pipe(int fds[2]);

/// posix_spawn_file_actions_addclosefrom_np: the child closes every descriptor from `lowest` up.
int jobhost_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// Asks the kernel to SIGKILL this process when its parent dies. Returns 0, or -1 with errno set.
int jobhost_die_with_parent(void);

/// Installs handlers for the signals a crashing handler raises (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
/// SIGABRT, SIGTRAP, SIGSYS) and an exit hook. Before the process dies, each writes one line naming
/// the job the crashing thread was running to `fd`:
///   "C\t<signal number>\t<job id>\n"  (a fatal signal)
///   "X\t<exit status>\t<job id>\n"    (exit() called from a handler)
/// then the signal is raised again with its default action, so the process still dies by it.
void jobhost_crash_report_install(int fd);

/// Gives the calling thread an alternate signal stack, so a stack overflow can still be reported.
/// Call once on every thread that runs handlers.
void jobhost_crash_report_prepare_thread(void);

/// Marks the calling thread as running `job_id` (copied; at most 127 bytes kept) until the matching end.
void jobhost_crash_report_begin(const char *job_id);
void jobhost_crash_report_end(void);

#endif
