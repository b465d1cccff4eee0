#define _GNU_SOURCE
#include "worker_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int jobhost_cloexec_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int jobhost_spawn_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int jobhost_die_with_parent(void) {
    return prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
}

static int report_fd = -1;
static __thread char current_job[128];

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

// Formats "<tag>\t<number>\t<job>\n" with no allocation and no locale: only write(2) is safe here.
static void report(char tag, long number) {
    if (report_fd < 0 || current_job[0] == 0) return;
    char line[200];
    size_t n = 0;
    line[n++] = tag;
    line[n++] = '\t';
    char digits[24];
    size_t d = 0;
    int negative = number < 0;
    unsigned long value = negative ? (unsigned long)(-number) : (unsigned long)number;
    do {
        digits[d++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0 && d < sizeof digits);
    if (negative) line[n++] = '-';
    while (d > 0) line[n++] = digits[--d];
    line[n++] = '\t';
    for (size_t i = 0; current_job[i] != 0 && n < sizeof line - 1; i++) line[n++] = current_job[i];
    line[n++] = '\n';
    // One write of under PIPE_BUF bytes: atomic, never interleaved with other report lines.
    ssize_t ignored = write(report_fd, line, n);
    (void)ignored;
}

static void on_fatal_signal(int signo) {
    report('C', signo);
    // SA_RESETHAND restored the default action: die by the same signal, so the parent sees it.
    raise(signo);
}

static void on_exit_hook(int status, void *unused) {
    (void)unused;
    report('X', status);
}

void jobhost_crash_report_install(int fd) {
    report_fd = fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_RESETHAND | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        sigaction(fatal_signals[i], &action, NULL);
    }
    on_exit(on_exit_hook, NULL);
}

void jobhost_crash_report_prepare_thread(void) {
    stack_t stack;
    memset(&stack, 0, sizeof stack);
    stack.ss_size = 64 * 1024;
    stack.ss_sp = malloc(stack.ss_size);
    if (stack.ss_sp == NULL) return;
    sigaltstack(&stack, NULL);
}

void jobhost_crash_report_begin(const char *job_id) {
    strncpy(current_job, job_id, sizeof current_job - 1);
    current_job[sizeof current_job - 1] = 0;
}

void jobhost_crash_report_end(void) {
    current_job[0] = 0;
}
