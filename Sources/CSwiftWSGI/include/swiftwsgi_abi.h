/*
 * swiftwsgi_abi.h — the whole interface between the Apache C shim (apache/) and the Swift host
 * library (Sources/SwiftWSGI). Plain C structs and function pointers only: no Apache or Python
 * types cross it. The shim includes it with httpd.h; Swift imports it as the CSwiftWSGI module.
 *
 * Direction C -> Swift: the swiftwsgi_* functions at the bottom (exported with @_cdecl).
 * Direction Swift -> C: the swiftwsgi_ops_t table the shim registers at every configuration
 * load (the shim can be unloaded and reloaded at another address by a graceful restart; the
 * Swift library never is, so it must always hold the newest table).
 *
 * Every string is NUL-terminated UTF-8/latin-1 bytes owned by the caller and valid only for the
 * duration of the call, unless said otherwise.
 */
#ifndef SWIFTWSGI_ABI_H
#define SWIFTWSGI_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped whenever a struct below changes layout or a function is added, removed or changed.
 *  (Only a test may define another, to build a shim that speaks an ABI no library does.) */
#ifndef SWIFTWSGI_ABI_VERSION
#define SWIFTWSGI_ABI_VERSION 20
#endif

/* The shim references every function the Swift library exports weakly (it defines
 * SWIFTWSGI_SHIM): a module loaded against a library of another ABI that lacks one still loads,
 * so that swiftwsgi_abi_handshake(), always its first call, can refuse with a clear message
 * instead of dlopen failing on a missing symbol. Declare every new export with SWIFTWSGI_IMPORT
 * (all but swiftwsgi_abi_version). */
#if defined(SWIFTWSGI_SHIM)
#define SWIFTWSGI_IMPORT __attribute__((weak))
#else
#define SWIFTWSGI_IMPORT
#endif

/** Log levels, numerically equal to Apache's APLOG_* values. */
enum {
    SWIFTWSGI_LOG_CRIT = 2,
    SWIFTWSGI_LOG_ERR = 3,
    SWIFTWSGI_LOG_WARNING = 4,
    SWIFTWSGI_LOG_NOTICE = 5,
    SWIFTWSGI_LOG_INFO = 6,
    SWIFTWSGI_LOG_DEBUG = 7,
};

/** A name/value pair (environ entries, response headers). */
typedef struct swiftwsgi_kv {
    const char *name;
    const char *value;
} swiftwsgi_kv_t;

/** Opaque handle of one request (the shim's request_rec). */
typedef void *swiftwsgi_request_handle_t;

/** Apache's scoreboard, for mod_wsgi.server_metrics(): the server, each process slot, each
 *  worker slot (times in microseconds since the epoch, strings valid during the callback). */
typedef struct swiftwsgi_scoreboard {
    int server_limit;
    int thread_limit;
    int running_generation;
    int64_t restart_time;
} swiftwsgi_scoreboard_t;

typedef struct swiftwsgi_scoreboard_process {
    int process_num;
    int pid;
    int generation;
    int quiescing;
} swiftwsgi_scoreboard_process_t;

typedef struct swiftwsgi_scoreboard_worker {
    int process_num;
    int thread_num;
    int generation;
    char status;                      /* mod_status's letter: '_' ready, 'R' reading, 'W' writing, ... */
    unsigned long access_count;
    uint64_t bytes_served;
    int64_t start_time;
    int64_t stop_time;
    int64_t last_used;
    const char *client;
    const char *request;
    const char *vhost;
} swiftwsgi_scoreboard_worker_t;

/**
 * Apache operations the Swift host calls. Each may block: the host releases the GIL around
 * every call. A NULL request handle means "no request" (server-level logging).
 */
typedef struct swiftwsgi_ops {
    /** Read up to len bytes of the request body. Returns the count, 0 at end, -1 on error
     *  (client gone, time-out, body too large); *status then holds an HTTP status or 0. */
    long (*read_body)(swiftwsgi_request_handle_t r, char *buffer, size_t len, int *status);
    /** Set the status and response headers. Returns 0, or -1 when Apache refused them. */
    int (*set_response)(swiftwsgi_request_handle_t r, int status, const char *status_line,
                        const swiftwsgi_kv_t *headers, size_t count);
    /** Send body bytes; flush pushes them to the client now. Returns 0, or -1 when the client
     *  has gone. */
    int (*write_body)(swiftwsgi_request_handle_t r, const char *data, size_t len, int flush);
    /** Send length bytes of the open descriptor fd from offset as a file bucket, flushed before
     *  return (so the application may close fd afterwards). Returns 0, or -1 on failure. */
    int (*send_file)(swiftwsgi_request_handle_t r, int fd, int64_t offset, int64_t length,
                     int sendfile_enabled);
    /** Log one line (no newline) at level, as the host formatted it (with its message id);
     *  tagged with the request when r is not NULL. */
    void (*log)(swiftwsgi_request_handle_t r, int level, const char *message);
    /** Mark the connection aborted after a failure once the headers were sent. */
    void (*abort_connection)(swiftwsgi_request_handle_t r);
    /** Read Apache's scoreboard: fills *board, then calls process() for each process slot and
     *  worker() for each of its worker slots. Returns 0, or -1 when this process has no
     *  scoreboard. Does not block. */
    int (*scoreboard)(swiftwsgi_scoreboard_t *board,
                      void (*process)(void *context, const swiftwsgi_scoreboard_process_t *p),
                      void (*worker)(void *context, const swiftwsgi_scoreboard_worker_t *w),
                      void *context);
} swiftwsgi_ops_t;

/** A script to import at process start (WSGIImportScript). */
typedef struct swiftwsgi_import_script {
    const char *path;
    const char *application_group;  /* unexpanded: "%{GLOBAL}" or a name (the host expands it) */
} swiftwsgi_import_script_t;

/**
 * One <WSGIInterpreterOptions [process-group=] [application-group=]> container (mod_wsgi 6),
 * with the directives it holds. The host picks the containers that select an interpreter when
 * it creates it (the most specific wins; see ProcessConfig.interpreterSettings).
 */
typedef struct swiftwsgi_interpreter_options {
    const char *process_group;        /* NULL: any; "" embedded mode (Apache's children); else a
                                         WSGIDaemonProcess name */
    const char *application_group;    /* NULL: any; "" the main interpreter (%{GLOBAL}); else an
                                         application group's expanded name */
    int per_interpreter_gil;          /* WSGIPerInterpreterGIL: -1 not set here, 0 Off, 1 On */
    int free_threading;               /* WSGIFreeThreading: -1 not set here, 0 Off, 1 On (only in
                                         containers without application-group=) */
    double switch_interval;           /* WSGISwitchInterval in seconds, 0: not set here */
    int restrict_stdin;               /* WSGIRestrictStdin: -1 not set here, 0 Off, 1 On */
    int restrict_stdout;              /* WSGIRestrictStdout: -1 not set here, 0 Off, 1 On */
    int restrict_signal;              /* WSGIRestrictSignal: -1 not set here, 0 Off, 1 On */
    const char *const *python_path;   /* WSGIPythonPath directories, in configuration order */
    size_t python_path_count;
} swiftwsgi_interpreter_options_t;

/*
 * mod_status's figures of Apache's children (apache/swiftwsgi_status.c reads them), in memory the
 * Apache parent maps at each configuration load when mod_status is loaded, before it forks:
 *
 * - the names of the application groups whose embedded requests are counted (one table for all
 *   children, claimed by the first child that creates the group's interpreter);
 * - one row per Apache child (ServerLimit rows, each claimed by a child at its start): per named
 *   group, the requests begun and ended by its interpreter in that child, then one pair for the
 *   groups beyond SWIFTWSGI_STATUS_GROUPS;
 * - the queue cells of each child (as many as twice its threads, and some): one is non-zero
 *   while a request the child handed to a daemon group waits for a daemon thread
 *   (swiftwsgi_queue_mark()).
 *
 * Every write is one relaxed atomic; nothing here locks.
 */

/** Application groups named in the shared table; the embedded requests of further groups are
 *  counted together, as "other groups". */
#define SWIFTWSGI_STATUS_GROUPS 64
/** Bytes kept of a group's name, with its NUL: groups whose names agree in the first 255 bytes
 *  are counted as one. */
#define SWIFTWSGI_STATUS_NAME_SIZE 256

/** One named application group. state: 0 free, 1 being written, 2 written (then never changes). */
typedef struct swiftwsgi_status_name {
    uint32_t state;
    char name[SWIFTWSGI_STATUS_NAME_SIZE]; /* the expanded group; "" for %{GLOBAL} */
} swiftwsgi_status_name_t;

/** An interpreter's requests in one child: begun - ended are running, ended were served. */
typedef struct swiftwsgi_interpreter_counters {
    uint64_t begun;
    uint64_t ended;
} swiftwsgi_interpreter_counters_t;

/** One Apache child's row. A child that takes over the row of one that exited keeps its
 *  requests (they stay served) and clears what was running. */
typedef struct swiftwsgi_child_counters {
    int32_t pid;                      /* the child using it; 0: free */
    int32_t reserved;
    swiftwsgi_interpreter_counters_t groups[SWIFTWSGI_STATUS_GROUPS + 1]; /* by name index, then other groups */
} swiftwsgi_child_counters_t;

/** The index of group's name in names (claimed when new); SWIFTWSGI_STATUS_GROUPS when the
 *  table is full. Scans at most SWIFTWSGI_STATUS_GROUPS entries; never waits. Two children
 *  naming a new group at the same instant may claim an entry each (readers add them up). */
static inline int swiftwsgi_status_group_index(swiftwsgi_status_name_t *names, const char *group)
{
    int i;
    size_t n;
    for (n = 0; group[n] && n + 1 < SWIFTWSGI_STATUS_NAME_SIZE; n++) {}
    for (i = 0; i < SWIFTWSGI_STATUS_GROUPS; i++) {
        swiftwsgi_status_name_t *e = &names[i];
        uint32_t state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), free_state = 0;
        if (state == 2) {
            size_t k;
            for (k = 0; k < n && e->name[k] == group[k]; k++) {}
            if (k == n && e->name[n] == 0) return i;
        }
        else if (state == 0 && __atomic_compare_exchange_n(&e->state, &free_state, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            size_t k;
            for (k = 0; k < n; k++) e->name[k] = group[k];
            e->name[n] = 0;
            __atomic_store_n(&e->state, 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return SWIFTWSGI_STATUS_GROUPS;
}

/** Group index's counters in row (index SWIFTWSGI_STATUS_GROUPS: the other groups'). */
static inline swiftwsgi_interpreter_counters_t *swiftwsgi_child_group_counters(swiftwsgi_child_counters_t *row, int index)
{
    return &row->groups[index < 0 || index > SWIFTWSGI_STATUS_GROUPS ? SWIFTWSGI_STATUS_GROUPS : index];
}

static inline void swiftwsgi_interpreter_begun(swiftwsgi_interpreter_counters_t *c)
{
    __atomic_add_fetch(&c->begun, 1, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_interpreter_ended(swiftwsgi_interpreter_counters_t *c)
{
    __atomic_add_fetch(&c->ended, 1, __ATOMIC_RELAXED);
}

/** A queue cell's value while its request waits: the daemon group's index + 1 in the top 16
 *  bits, below them when the wait began (CLOCK_MONOTONIC microseconds, modulo 2^48). */
#define SWIFTWSGI_QUEUE_TIME_BITS 48
static inline uint64_t swiftwsgi_queue_mark(int group, uint64_t monotonic_usec)
{
    uint64_t t = monotonic_usec & ((UINT64_C(1) << SWIFTWSGI_QUEUE_TIME_BITS) - 1);
    return ((uint64_t)(group + 1) << SWIFTWSGI_QUEUE_TIME_BITS) | (t ? t : 1);
}

/** A daemon thread took the request: its cell is cleared, unless it no longer holds mark. */
static inline void swiftwsgi_queue_taken(uint64_t *cells, uint32_t count, int32_t cell, uint64_t mark)
{
    if (!cells || mark == 0 || cell < 0 || (uint32_t)cell >= count) return;
    __atomic_compare_exchange_n(&cells[cell], &mark, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/** Process-wide settings, from server-config directives, passed at child start. */
typedef struct swiftwsgi_process_config {
    const char *python_home;          /* WSGIPythonHome, or NULL */
    const char *python_path;          /* WSGIPythonPath, ':'-separated, or NULL */
    const char *daemon_home;          /* a daemon group's home=, put first on each interpreter's
                                         sys.path (as mod_wsgi does); NULL elsewhere */
    int python_optimize;              /* WSGIPythonOptimize, 0..2 */
    long python_hash_seed;            /* WSGIPythonHashSeed: -1 unset, -2 "random", else 0..4294967295 */
    const char *const *python_warnings; /* WSGIPythonWarnings options */
    size_t python_warnings_count;
    int dont_write_bytecode;          /* WSGIDontWriteBytecode */
    const char *python_eggs;          /* WSGIPythonEggs, or NULL */
    int restrict_stdin;               /* WSGIRestrictStdin */
    int restrict_stdout;              /* WSGIRestrictStdout */
    int restrict_signal;              /* WSGIRestrictSignal */
    int destroy_interpreter;          /* WSGIDestroyInterpreter */
    const char *apache_version;       /* e.g. "2.4.62" */
    const char *mpm_name;             /* "event", "worker", "prefork" */
    int threads_per_process;          /* ThreadsPerChild (1 for prefork) */
    int maximum_processes;            /* ServerLimit-derived maximum of children */
    const swiftwsgi_import_script_t *import_scripts;
    size_t import_scripts_count;
    const char *process_group;        /* "" in Apache's children; the group's name in a daemon */
    double switch_interval;           /* WSGISwitchInterval / switch-interval=: seconds for
                                         sys.setswitchinterval(), 0: Python's default */
    int server_metrics;               /* WSGIServerMetrics / server-metrics=: the mod_wsgi module's
                                         server_metrics(), process_metrics() and request_metrics()
                                         report (else they return None) */
    /* The Apache server itself (Python's `apache` module), also in daemon processes: */
    const char *apache_description;   /* ap_get_server_description(), e.g. "Apache/2.4.62 (Debian) ..." */
    const char *apache_build_date;    /* ap_get_server_built() */
    int apache_threads_per_process;   /* the MPM's threads per child (1 for prefork) */
    int apache_maximum_processes;     /* the MPM's maximum of children */
    int per_interpreter_gil;          /* WSGIPerInterpreterGIL at server scope: sub-interpreters
                                         get their own GIL (configtest refuses On before 3.12) */
    int free_threading;               /* WSGIFreeThreading at server scope: the GIL disabled
                                         (configtest refuses On on a build with the GIL) */
    const swiftwsgi_interpreter_options_t *interpreter_options; /* the containers, in configuration order */
    size_t interpreter_options_count;
    /* mod_status (Apache's children only, NULL elsewhere or without mod_status): the shared
     * group names and this child's row, where the host counts each interpreter's requests. */
    swiftwsgi_status_name_t *status_names;
    swiftwsgi_child_counters_t *status_row;
    /* WSGITelemetryService / WSGISlowRequests / WSGITelemetryOptions (mod_wsgi 6.1): where this
     * process sends its telemetry datagrams (the host's sender thread does). */
    const char *telemetry_socket;     /* the ingester's unix socket path (after "unix:"); NULL: no
                                         telemetry in this process */
    double telemetry_interval;        /* seconds between samples (interval=) */
    double slow_requests;             /* WSGISlowRequests threshold in seconds, 0: not reported */
    int telemetry_options;            /* SWIFTWSGI_TELEMETRY_* flags */
} swiftwsgi_process_config_t;

/** WSGITelemetryOptions flags. */
#define SWIFTWSGI_TELEMETRY_CAPTURE_USER_AGENT 0x01

/** One process of a WSGIDaemonProcess group, as the shim forked it (privileges dropped). */
/**
 * One daemon process's counters, in memory shared by the Apache parent (which maps it before it
 * forks anything), the daemons and Apache's children (mod_status reads it: swiftwsgi_status.c).
 * The daemon writes its fields with the helpers below (relaxed atomics: one add per request);
 * the parent writes pid, started, restarts and last_restart.
 */
typedef struct swiftwsgi_daemon_status {
    int32_t pid;                      /* parent: the running process, 0 while none */
    int32_t threads;                  /* daemon: threads=, once it serves */
    int32_t busy;                     /* daemon: threads running a request */
    int32_t restarts;                 /* parent: processes of this slot started after the first */
    uint64_t requests;                /* daemon: requests this process served */
    uint64_t earlier_requests;        /* parent: requests the slot's earlier processes served */
    int64_t started;                  /* parent: when the process was started (microseconds) */
    int64_t queue_wait;               /* daemon: how long its latest request waited for a thread (us) */
    int64_t last_restart_time;        /* parent: when the latest restart happened (microseconds) */
    char stop_reason[40];             /* daemon: why it is stopping (mod_wsgi's shutdown_reason) */
    char last_restart[40];            /* parent: why the previous process went (its stop_reason, or
                                         "exit N" / "signal N" when it said nothing) */
} swiftwsgi_daemon_status_t;

static inline void swiftwsgi_status_set_threads(swiftwsgi_daemon_status_t *s, int32_t threads)
{
    if (s) __atomic_store_n(&s->threads, threads, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_busy(swiftwsgi_daemon_status_t *s, int32_t delta)
{
    if (s) __atomic_add_fetch(&s->busy, delta, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_served(swiftwsgi_daemon_status_t *s, int64_t queue_wait)
{
    if (!s) return;
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->queue_wait, queue_wait, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_stopping(swiftwsgi_daemon_status_t *s, const char *reason)
{
    size_t i;
    if (!s || !reason) return;
    for (i = 0; i + 1 < sizeof(s->stop_reason) && reason[i]; i++) s->stop_reason[i] = reason[i];
    s->stop_reason[i] = 0;
}

typedef struct swiftwsgi_daemon_config {
    const char *name;                 /* the group's name */
    int listen_fd;                    /* the group's listening unix socket (shared by its processes) */
    int threads;                      /* threads= */
    long maximum_requests;            /* maximum-requests=, 0: unlimited */
    int socket_timeout;               /* socket-timeout=, seconds */
    int graceful_timeout;             /* seconds to finish requests when asked to stop */
    size_t stack_size;                /* stack-size=, 0: default */
    int request_timeout;              /* request-timeout=: seconds a request may run (times 1 + ln threads,
                                         as mod_wsgi 6.1) before it is interrupted or, without
                                         interrupt-timeout, answered 504 and the process replaced; 0: none */
    int interrupt_timeout;            /* interrupt-timeout=: seconds a request given mod_wsgi.RequestTimeout
                                         has to unwind (504) before the process is replaced; 0: no interrupt */
    int inactivity_timeout;           /* inactivity-timeout=: idle that long, the process is replaced */
    int restart_interval;             /* restart-interval=: the process is replaced after that long */
    int queue_timeout;                /* queue-timeout=: a request that waited longer answers 504 */
    int shutdown_timeout;             /* shutdown-timeout=: seconds for running requests at SIGTERM */
    int startup_timeout;              /* startup-timeout=: seconds Python and the preloaded scripts
                                         may take before the process gives up and is replaced */
    int eviction_timeout;             /* eviction-timeout=: seconds for running requests at SIGUSR1
                                         (the shim gives graceful-timeout's when it is not set) */
    int deadlock_timeout;             /* deadlock-timeout=: seconds the GIL may stay held before the
                                         process is replaced, 0: never */
    int send_buffer_size;             /* send-buffer-size=: SO_SNDBUF of connections, 0: system's */
    int receive_buffer_size;          /* receive-buffer-size=: SO_RCVBUF of connections, 0: system's */
    int multiprocess;                 /* wsgi.multiprocess: processes= given (even =1), or more than 1 */
    swiftwsgi_daemon_status_t *status; /* this process's shared counters, or NULL */
    swiftwsgi_process_config_t process;
    uint64_t *queue_cells;            /* the Apache children's queue cells (NULL without mod_status) */
    uint32_t queue_cell_count;
} swiftwsgi_daemon_config_t;

/**
 * What every call into a script carries (a WSGI request, an authentication or a dispatch
 * script): the request, its environ and the script, with its application group. The shim
 * fills every field (its getters apply the defaults); the host expands the group.
 */
typedef struct swiftwsgi_script_call {
    swiftwsgi_request_handle_t handle;
    const swiftwsgi_kv_t *environ;    /* CGI variables and subprocess_env, latin-1 bytes */
    size_t environ_count;
    const char *script_filename;      /* the script file */
    int64_t script_mtime;             /* its modification time in microseconds (Apache's stat) */
    const char *server_hostname;      /* the virtual host's ServerName (not the Host header) */
    int server_port;                  /* its port */
    const char *application_group;    /* unexpanded spec, never NULL: "%{RESOURCE}", "%{SERVER}",
                                         "%{GLOBAL}", "%{ENV:name}" or a name */
} swiftwsgi_script_call_t;

/** One request as the shim resolved it. */
typedef struct swiftwsgi_request {
    swiftwsgi_script_call_t call;
    const char *callable_object;      /* never NULL */
    const char *process_group;        /* the daemon group, expanded; "" in embedded mode */
    int script_reloading;             /* WSGIScriptReloading */
    int enable_sendfile;              /* WSGIEnableSendfile */
    int header_only;                  /* HEAD: the body is not sent */
    const char *request_handler;      /* "wsgi-script", "application/x-httpd-wsgi" or a WSGIHandlerScript name */
    int error_override;               /* WSGIErrorOverride: an error status goes to Apache's ErrorDocument */
    const char *daemon_socket;        /* daemon mode: the group's socket path, else NULL */
    int connect_timeout;              /* daemon mode: seconds to wait for a daemon to accept */
    int socket_timeout;               /* daemon mode: seconds of silence before 504 */
    int header_buffer_size;           /* daemon mode: largest response header (name and value) */
    int response_flush_delay;         /* daemon mode: milliseconds the Apache child waits for more
                                         output before flushing what it passed on, 0: at once
                                         (response-flush-delay=, mod_wsgi 6.0.2) */
    size_t response_buffer_size;      /* daemon mode: bytes passed on without a flush before one is
                                         forced (response-buffer-size=, mod_wsgi 6.0.2's meaning) */
    int ignore_activity;              /* WSGIIgnoreActivity: the request does not reset a daemon's
                                         inactivity-timeout (also environ mod_wsgi.ignore_activity) */
    int32_t queue_cell;               /* daemon mode: the cell in queue_cells marking the wait, */
    uint64_t queue_mark;              /* and its mark (0: none), cleared when a daemon takes it */
} swiftwsgi_request_t;

/** What an authentication or access script is asked (the function called in the script). */
typedef enum {
    SWIFTWSGI_AUTH_CHECK_PASSWORD = 1,  /**< check_password(environ, user, password) */
    SWIFTWSGI_AUTH_GET_REALM_HASH = 2,  /**< get_realm_hash(environ, user, realm) */
    SWIFTWSGI_AUTH_GROUPS_FOR_USER = 3, /**< groups_for_user(environ, user) */
    SWIFTWSGI_AUTH_ALLOW_ACCESS = 4,    /**< allow_access(environ, host) */
} swiftwsgi_auth_kind_t;

/** The script's answer. */
typedef enum {
    SWIFTWSGI_AUTH_GRANTED = 0,   /**< True, or a value (realm hash, groups) was returned */
    SWIFTWSGI_AUTH_DENIED = 1,    /**< False */
    SWIFTWSGI_AUTH_NOT_FOUND = 2, /**< None: unknown user / no opinion */
    SWIFTWSGI_AUTH_ERROR = 3,     /**< the script failed (traceback logged): never a grant */
} swiftwsgi_auth_result_t;

/** What a WSGIDispatchScript answered: NULL where the function is missing or returned None. */
typedef struct swiftwsgi_dispatch_answer {
    const char *process_group;        /* unexpanded: the shim expands %{GLOBAL} and %{ENV:name} */
    const char *application_group;    /* unexpanded: the host expands it */
    const char *callable_object;
} swiftwsgi_dispatch_answer_t;

/** One call into an authentication, group or access script. */
typedef struct swiftwsgi_auth_request {
    swiftwsgi_script_call_t call;      /* the body is never read; application group default %{GLOBAL} */
    int kind;                          /* swiftwsgi_auth_kind_t */
    const char *user;                  /* NULL for allow_access and dispatch */
    const char *argument;              /* password, realm or host */
    /** Receives the realm hash, or each group name. */
    void (*add_value)(void *context, const char *value);
    void *context;
} swiftwsgi_auth_request_t;

/** What a WSGIDispatchScript's call came to. */
typedef enum {
    SWIFTWSGI_DISPATCH_ANSWERED = 0,   /**< set_answer received the answer */
    SWIFTWSGI_DISPATCH_NO_OPINION = 1, /**< the script did not load (traceback logged): the request
                                            goes on with the defaults, as in mod_wsgi */
    SWIFTWSGI_DISPATCH_ERROR = 2,      /**< a function raised or answered something other than a
                                            str or None (traceback logged): the request fails */
} swiftwsgi_dispatch_result_t;

/** One call into a WSGIDispatchScript: whichever of process_group(environ),
 *  application_group(environ) and callable_object(environ) it defines. */
typedef struct swiftwsgi_dispatch_request {
    swiftwsgi_script_call_t call;      /* the body is never read; application group default %{GLOBAL} */
    /** Receives the answer (copied before it returns). */
    void (*set_answer)(void *context, const swiftwsgi_dispatch_answer_t *answer);
    void *context;
} swiftwsgi_dispatch_request_t;

/**
 * The structs that cross, in a fixed order: the size of the index'th as this side was compiled
 * (and its name in *name when name is not NULL), 0 past the last. The shim passes these sizes to
 * swiftwsgi_abi_handshake(), which compares them with the library's own. Add every new struct.
 */
static inline size_t swiftwsgi_abi_struct_size(size_t index, const char **name)
{
    size_t n = 0;
#define SWIFTWSGI_ABI_STRUCT(type) if (index == n++) { if (name) *name = #type; return sizeof(type); }
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_kv_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_scoreboard_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_scoreboard_process_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_scoreboard_worker_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_ops_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_import_script_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_interpreter_options_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_status_name_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_interpreter_counters_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_child_counters_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_process_config_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_daemon_status_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_daemon_config_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_script_call_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_request_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_dispatch_answer_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_auth_request_t)
    SWIFTWSGI_ABI_STRUCT(swiftwsgi_dispatch_request_t)
#undef SWIFTWSGI_ABI_STRUCT
    (void)n;
    return 0;
}

/* ---- Exported by the Swift library ---------------------------------------------------- */

/**
 * The first call across the ABI, made before any other at every configuration load (the Swift
 * library is never unloaded: after a graceful restart the newly loaded shim may face a library of
 * another build) and in every process. abi_version is the shim's SWIFTWSGI_ABI_VERSION, sizes
 * its swiftwsgi_abi_struct_size() for each index below count. Returns 0 when the library was
 * built with the same version and sizes, else -1 with the reason written to error (NUL-terminated,
 * truncated to error_len); the shim then calls nothing else. Until a handshake succeeded, the
 * library's entry points that take a struct refuse. This signature never changes.
 */
SWIFTWSGI_IMPORT int swiftwsgi_abi_handshake(int abi_version, const size_t *sizes, size_t count,
                                             char *error, size_t error_len);

/** The ABI version the library was built with. Every library ever built has it: the shim's one
 *  strong reference, which also keeps the library a dependency of the module (a module whose
 *  references were all weak would be linked without it). */
int swiftwsgi_abi_version(void);

/** The host's version string, e.g. "0.1.0", and the Python it embeds, e.g. "3.11". */
SWIFTWSGI_IMPORT const char *swiftwsgi_version(void);
SWIFTWSGI_IMPORT const char *swiftwsgi_python_version(void);

/** Register the shim's operations (at every configuration load and in each child). */
SWIFTWSGI_IMPORT void swiftwsgi_register_ops(const swiftwsgi_ops_t *ops);

/**
 * Configuration checks, run while Apache reads its configuration (no threads, no Python).
 * Each returns 0 when value is acceptable, else -1 with a reason written to error
 * (NUL-terminated, truncated to error_len).
 */
SWIFTWSGI_IMPORT int swiftwsgi_check_python_home(const char *path, char *error, size_t error_len);
SWIFTWSGI_IMPORT int swiftwsgi_check_application_group(const char *spec, char *error, size_t error_len);
/** Whether the embedded Python can give sub-interpreters their own GIL (PEP 684, 3.12+). */
SWIFTWSGI_IMPORT int swiftwsgi_check_per_interpreter_gil(char *error, size_t error_len);
/** Whether the embedded Python can run without the GIL (a free-threaded build, PEP 703). */
SWIFTWSGI_IMPORT int swiftwsgi_check_free_threading(char *error, size_t error_len);
/** The <WSGIInterpreterOptions> containers of config (Apache's children's settings) as they
 *  apply in embedded mode and in each of the daemon groups named: refuses a combination that
 *  cannot take effect (a WSGISwitchInterval scoped to an application group whose interpreter
 *  does not get its own GIL would change the whole process's interval). */
SWIFTWSGI_IMPORT int swiftwsgi_check_interpreter_options(const swiftwsgi_process_config_t *config,
                                        const char *const *daemon_groups, size_t daemon_group_count,
                                        char *error, size_t error_len);

/** Initialise Python in a child process (after fork). Returns 0, or -1 after logging why. */
SWIFTWSGI_IMPORT int swiftwsgi_child_init(const swiftwsgi_process_config_t *config);

/** Tear Python down as the child exits. Never hangs on application threads. */
SWIFTWSGI_IMPORT void swiftwsgi_child_exit(void);

/** Run one WSGI request. Returns 0 (OK: the response was sent or the connection aborted) or
 *  an HTTP status for Apache to answer with (500 when the application failed before sending
 *  anything). */
SWIFTWSGI_IMPORT int swiftwsgi_handle_request(const swiftwsgi_request_t *request);

/** Runs a daemon process until it is told to stop; returns its exit status. */
SWIFTWSGI_IMPORT int swiftwsgi_daemon_main(const swiftwsgi_daemon_config_t *config);

/** Calls an authentication, group or access script. Returns a swiftwsgi_auth_result_t. */
SWIFTWSGI_IMPORT int swiftwsgi_auth(const swiftwsgi_auth_request_t *request);

/** Calls a WSGIDispatchScript. Returns a swiftwsgi_dispatch_result_t. */
SWIFTWSGI_IMPORT int swiftwsgi_dispatch(const swiftwsgi_dispatch_request_t *request);

#ifdef __cplusplus
}
#endif

#endif /* SWIFTWSGI_ABI_H */
