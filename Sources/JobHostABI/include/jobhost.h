/*
 * jobhost.h — the jobhost plugin ABI, version 1.1.
 *
 * This header is the only contract between the jobhost host process and a
 * job-handler plugin. A plugin is a shared library (lib<Name>.so) written in
 * any language that can export one C function and follow the rules below.
 *
 * ---------------------------------------------------------------------------
 * VERSIONING
 * ---------------------------------------------------------------------------
 * JH_ABI_MAJOR changes only when an existing field or call changes meaning or
 * layout; the host refuses a plugin whose major differs from its own.
 * JH_ABI_MINOR grows when fields are appended at the END of a struct. Every
 * struct that may grow starts with (or carries) its own size, as compiled:
 *   - a plugin built against an older minor hands the host a smaller
 *     descriptor; the host reads only the fields that size covers;
 *   - the host hands a plugin a larger jh_host / jh_job than it knows; the
 *     plugin ignores the tail. Before using a field added in a later minor,
 *     check `struct_size` covers it (JH_HAS_FIELD).
 * A version step is recorded here with its reason:
 *   1.0  first version.
 *   1.1  jh_host.set_result appended: a handler reports what it produced (JSON),
 *        which the host stores with the job; until then results could only be
 *        logged. A 1.0 plugin loads and runs unchanged; a 1.1 plugin run by a
 *        1.0 host finds struct_size too small for set_result (JH_HAS_FIELD).
 *
 * ---------------------------------------------------------------------------
 * LOADING (what the host checks, in this order; the library's constructors,
 * the entry function and init() are the only plugin code that runs)
 * ---------------------------------------------------------------------------
 *   1. symbolic links in the path are followed, and what they lead to is a
 *      regular file (a link to a device, a FIFO or a directory, a dangling
 *      link and a link loop are refused as such);
 *   2. that file is readable, owned by root or the host's user and not
 *      writable by group or others, and so is every directory above it and
 *      every directory holding a link on the way (a sticky, root-owned
 *      directory such as /tmp is fine);
 *   3. it is a 64-bit ELF shared object for the host's machine, with no
 *      truncated segment;
 *   4. it defines the symbol JH_ENTRY_SYMBOL;
 *      then dlopen runs the library's constructors, and the host calls the
 *      entry function;
 *   5. the descriptor it returns has abi_major == JH_ABI_MAJOR and a
 *      descriptor_size and handler_size at least as large as version 1.0's;
 *   6. plugin and handler names are well formed (at most 255 bytes of UTF-8,
 *      no control characters), and every handler name is unique across all
 *      plugins the host loads;
 *   7. init() (if present) returns JH_OK.
 * Constructors, the entry function and init() must each return within the
 * host's plugin_load_timeout (5 s unless configured), and must not crash or
 * call exit(): the host loads the plugins first in a throwaway process and
 * refuses one that does, naming the step ("init did not return within 5s").
 * Handler names are `family.action` (lower-case letters, digits, '_', '-',
 * '.'), e.g. "noctua.strategy_batch"; the host routes jobs by this name.
 * The host never unloads a plugin (no dlclose): a plugin may keep global
 * state for the life of the process.
 *
 * ---------------------------------------------------------------------------
 * MEMORY
 * ---------------------------------------------------------------------------
 * Whoever allocates, frees. Nothing crossing the boundary is ever freed by the
 * other side.
 *   - The descriptor, its strings and its handler array belong to the plugin
 *     and must stay valid and unchanged for the life of the process (static
 *     storage is the natural choice).
 *   - Everything the host passes in (jh_host, jh_job and its strings and
 *     payload, the config JSON) belongs to the host. jh_host is valid for the
 *     life of the process; everything else only until the call returns: copy
 *     what you want to keep.
 *   - Everything the plugin passes to a host call (log text, error text,
 *     payloads to enqueue) is copied by the host before the call returns.
 *   - Text is UTF-8. Strings with an explicit length need no NUL terminator;
 *     strings without one (`const char *`) must be NUL-terminated.
 *
 * ---------------------------------------------------------------------------
 * THREADS
 * ---------------------------------------------------------------------------
 *   - init() is called once per load, on one thread, before any handler runs;
 *     a host loads each library once.
 *   - A handler may be called from several threads at once, for different
 *     jobs (and, with at-least-once delivery, even twice for the same job id:
 *     use job->id as the idempotency key). Handlers must be thread-safe.
 *   - Handlers run on threads the host owns and may block (network, disk);
 *     they must poll host->is_cancelled() and return soon once it says so.
 *   - Host calls are thread-safe; a jh_context is valid only on the call that
 *     received it and until that call returns.
 *   - shutdown() (if present) is called once, after the last handler call.
 */
#ifndef JOBHOST_H
#define JOBHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define JH_ABI_MAJOR 1
#define JH_ABI_MINOR 1

/* The one symbol a plugin exports:  const jh_plugin_descriptor *jh_plugin_entry(void); */
#define JH_ENTRY_SYMBOL "jh_plugin_entry"

/* Marks the entry function as exported even under -fvisibility=hidden. */
#define JH_EXPORT __attribute__((visibility("default")))

/* True when a struct that declares its own size covers `field`. */
#define JH_HAS_FIELD(ptr, size_field, type, field) \
    ((ptr)->size_field >= offsetof(type, field) + sizeof(((type *)0)->field))

/* What a handler returns. */
typedef enum jh_outcome {
    /* The job is done. */
    JH_SUCCESS = 0,
    /* Failed this time; run again later (backoff, or the delay set with
       set_retry_delay) until max_attempts is used up. */
    JH_RETRY = 1,
    /* Failed for good (bad payload, missing record): straight to the dead set. */
    JH_DISCARD = 2
} jh_outcome;

/* Status codes of init() and of host calls. */
typedef enum jh_status {
    JH_OK = 0,
    JH_ERROR = 1,
    /* A host call is not available where it was made (e.g. enqueue from init). */
    JH_UNSUPPORTED = 2,
    /* An argument was invalid (unknown handler, payload that is not JSON, ...). */
    JH_INVALID = 3
} jh_status;

typedef enum jh_log_level {
    JH_LOG_TRACE = 0,
    JH_LOG_DEBUG = 1,
    JH_LOG_INFO = 2,
    JH_LOG_WARNING = 3,
    JH_LOG_ERROR = 4
} jh_log_level;

/* Opaque, owned by the host: identifies the job a host call is about. */
typedef struct jh_context jh_context;

/* One job, as handed to a handler. All pointers belong to the host. */
typedef struct jh_job {
    uint32_t struct_size;           /* sizeof(jh_job) as the host knows it */
    uint32_t attempt;               /* 1 on the first run */
    uint32_t max_attempts;
    uint32_t reserved;
    const char *id;                 /* unique, sortable; the idempotency key */
    const char *handler;            /* e.g. "noctua.strategy_batch" */
    const char *queue;
    const uint8_t *payload;         /* JSON, UTF-8 */
    size_t payload_len;
    int64_t deadline_unix_ms;       /* when the host asks the handler to stop; 0 = none */
    int64_t enqueued_at_unix_ms;
} jh_job;

/* A job a handler (or init) asks the host to enqueue. */
typedef struct jh_enqueue_request {
    uint32_t struct_size;           /* sizeof(jh_enqueue_request) as the plugin knows it */
    uint32_t max_attempts;          /* 0 = the queue's or handler's default */
    const char *handler;            /* NUL-terminated */
    const uint8_t *payload;         /* JSON; copied by the host */
    size_t payload_len;
    const char *queue;              /* NULL = the queue the handler is routed to */
    int64_t delay_ms;               /* run no earlier than now + delay; 0 = at once */
    const char *unique_key;         /* NULL = none; a second job with a live key is not enqueued */
} jh_enqueue_request;

/* Host services: valid for the life of the process; thread-safe. */
typedef struct jh_host {
    uint32_t struct_size;           /* sizeof(jh_host) as the host knows it */
    uint32_t abi_major;
    uint32_t abi_minor;
    uint32_t reserved;

    /* Log a line through the host's logger, tagged with the plugin and (when
       ctx is not NULL) the job. ctx may be NULL, e.g. in init. */
    void (*log)(jh_context *ctx, jh_log_level level, const char *message, size_t message_len);

    /* 1 once the host wants the handler to stop (deadline passed, shutdown),
       else 0. Cheap: poll it in loops. */
    int32_t (*is_cancelled)(jh_context *ctx);

    /* Enqueue another job (chaining). On JH_OK, the new job's id (NUL-terminated,
       truncated to fit) is written to id_out when id_out is not NULL. On an error,
       a reason is logged and returned through the same buffer. */
    int32_t (*enqueue)(jh_context *ctx, const jh_enqueue_request *request, char *id_out, size_t id_capacity);

    /* Tell the host how far the handler got: progress in [0, 1], or negative when
       unknown; note may be NULL (at most 500 characters are kept). The host
       records the latest with the job's next lease renewal, for operators (`host
       jobs show`, the admin API); a new attempt starts without any. The lease is
       renewed whether or not a handler calls this. */
    void (*heartbeat)(jh_context *ctx, double progress, const char *note, size_t note_len);

    /* The error text recorded with a JH_RETRY or JH_DISCARD outcome. The last
       call before the handler returns wins. */
    void (*set_error)(jh_context *ctx, const char *message, size_t message_len);

    /* With JH_RETRY: run again after this delay instead of the backoff policy. */
    void (*set_retry_delay)(jh_context *ctx, int64_t delay_ms);

    /* ---- 1.1 ---- check JH_HAS_FIELD(host, struct_size, jh_host, set_result) first. */

    /* The job's result: JSON (UTF-8, at most JH_RESULT_MAX_BYTES), stored with the
       job when the handler returns JH_SUCCESS and shown to operators (`host jobs
       show`, the admin API). The last call before the handler returns wins.
       Returns JH_INVALID (and stores nothing) for text that is not JSON or is too
       long, JH_UNSUPPORTED outside a handler call. */
    int32_t (*set_result)(jh_context *ctx, const uint8_t *json, size_t json_len);
} jh_host;

/* The largest result set_result takes, in bytes. */
#define JH_RESULT_MAX_BYTES 65536u

/* A handler: runs one job and says how it went. May block; must be thread-safe. */
typedef int32_t (*jh_handler_fn)(const jh_host *host, jh_context *ctx, const jh_job *job, void *handler_data);

/* One handler a plugin offers. */
typedef struct jh_handler_def {
    const char *name;               /* "family.action", unique across all plugins */
    const char *description;        /* one line, for `host list-plugins` */
    uint32_t default_timeout_ms;    /* 0 = the queue's timeout */
    uint32_t reserved;
    jh_handler_fn run;
    void *handler_data;             /* handed back to run(); the plugin's own */
} jh_handler_def;

/* Called once after loading, before any handler. config_json is the plugin's
   `config:` block from the host's YAML as a JSON object ("{}" when absent).
   On failure return JH_ERROR and write a reason (NUL-terminated, truncated to
   fit) into error_out; the host then refuses the plugin and says why.

   Problems with the config block: write one line per problem, in this form,
   and the host reports each at that key's line and column in the YAML, as it
   reports its own keys (host check-config, host run, host list-plugins):

       config.<key path>: <message>

   The key path names keys with `.key` and list items with `[index]`, from the
   block down: `config.batch_size`, `config.ai.model`, `config.targets[2].url`;
   `config: <message>` is about the block as a whole. A key holding other
   characters than letters, digits, '_' and '-' is written in double quotes,
   with '"' and '\' escaped by a backslash: `config."a.b"`. Separate lines by '\n'.
   The host shows the line for `config.batch_sise: unknown key; did you mean
   'batch_size'?` as
       host.yaml:47:7: plugins.Voxa.config.batch_sise: unknown key; did you mean 'batch_size'?
   A key that is not written (a required key left out) is reported at the
   nearest key above it that is, else at `config:`. Keep whole lines when the
   text does not fit: a cut line still reads as a problem. Any other text is
   reported as it is, at the plugin's entry. PluginKit writes this form. */
typedef int32_t (*jh_init_fn)(const jh_host *host, const char *config_json, size_t config_len,
                              char *error_out, size_t error_capacity);

/* Called once at shutdown, after the last handler call. */
typedef void (*jh_shutdown_fn)(const jh_host *host);

/* What jh_plugin_entry returns. The first four fields never move. */
typedef struct jh_plugin_descriptor {
    uint32_t abi_major;             /* JH_ABI_MAJOR */
    uint32_t abi_minor;             /* JH_ABI_MINOR */
    uint32_t descriptor_size;       /* sizeof(jh_plugin_descriptor) */
    uint32_t handler_size;          /* sizeof(jh_handler_def) */
    const char *name;               /* e.g. "noctua" */
    const char *version;            /* the plugin's own version, e.g. "1.4.2" */
    const char *description;        /* one line */
    const jh_handler_def *handlers;
    uint32_t handler_count;
    uint32_t reserved;
    jh_init_fn init;                /* optional (NULL) */
    jh_shutdown_fn shutdown;        /* optional (NULL) */
} jh_plugin_descriptor;

/* Fill the version and size fields of a descriptor in one go:
       static const jh_plugin_descriptor d = { JH_DESCRIPTOR_HEADER, .name = "x", ... }; */
#define JH_DESCRIPTOR_HEADER \
    .abi_major = JH_ABI_MAJOR, .abi_minor = JH_ABI_MINOR, \
    .descriptor_size = sizeof(jh_plugin_descriptor), .handler_size = sizeof(jh_handler_def)

/* The sizes of version 1.0's structs on LP64: the smallest a host accepts.
   They never change; appended fields make the structs larger, not these. */
#define JH_DESCRIPTOR_SIZE_1_0 72u
#define JH_HANDLER_SIZE_1_0 40u
#define JH_ENQUEUE_REQUEST_SIZE_1_0 56u
#define JH_HOST_SIZE_1_0 64u

/* The signature of the entry symbol. */
typedef const jh_plugin_descriptor *(*jh_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* JOBHOST_H */
