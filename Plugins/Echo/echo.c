// Echo: a jobhost plugin in plain C. Build it with any C compiler:
//   cc -shared -fPIC -I Sources/JobHostABI/include -o libEcho.so Plugins/Echo/echo.c
#include <stdio.h>
#include <string.h>
#include "jobhost.h"

// Logs the payload; a payload of "fail" asks for a retry, to show error reporting.
static int32_t echo_log(const jh_host *host, jh_context *ctx, const jh_job *job, void *data) {
    (void)data;
    char line[256];
    int n = snprintf(line, sizeof line, "echo %s attempt %u: %.*s", job->id, job->attempt,
                     (int)(job->payload_len > 200 ? 200 : job->payload_len), (const char *)job->payload);
    if (n < 0) n = 0;
    if (n >= (int)sizeof line) n = sizeof line - 1;
    host->log(ctx, JH_LOG_INFO, line, (size_t)n);
    if (job->payload_len == 6 && memcmp(job->payload, "\"fail\"", 6) == 0) {
        static const char reason[] = "asked to fail";
        host->set_error(ctx, reason, sizeof reason - 1);
        return JH_RETRY;
    }
    return JH_SUCCESS;
}

static const jh_handler_def handlers[] = {
    {.name = "echo.log", .description = "Logs the job's payload", .run = echo_log},
};

static const jh_plugin_descriptor descriptor = {
    JH_DESCRIPTOR_HEADER,
    .name = "echo",
    .version = "1.0.0",
    .description = "Logs payloads; the smallest plugin, in C",
    .handlers = handlers,
    .handler_count = sizeof handlers / sizeof handlers[0],
};

JH_EXPORT const jh_plugin_descriptor *jh_plugin_entry(void) { return &descriptor; }
