/*
 * swiftwsgi_abi.h — the call interface between the Apache C shim (apache/) and the Swift host
 * library (Sources/SwiftWSGI): its version, the handshake, the operations table, the request and
 * script calls, and the functions each side exports. The configuration structs are in
 * swiftwsgi_configuration.h, the status counters' shared-memory layouts in
 * swiftwsgi_status_layout.h (both included here; one ABI, one version). Plain C structs and
 * function pointers only: no Apache or Python types cross it. The shim includes it with
 * httpd.h; Swift imports the three as the CSwiftWSGI module.
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

#include "swiftwsgi_configuration.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bumped whenever a struct below changes layout or a function is added, removed or changed.
 *  (Only a test may define another, to build a shim that speaks an ABI no library does.) */
#ifndef SWIFTWSGI_ABI_VERSION
#define SWIFTWSGI_ABI_VERSION 21
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
