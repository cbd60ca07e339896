/*
 * swiftwsgi_configuration.h — the configuration structs the shim passes to the Swift host: the
 * process-wide settings at child start (swiftwsgi_child_init), a daemon process's at its start
 * (swiftwsgi_daemon_main), with the interpreter-option containers and the scripts to preload.
 * Part of the ABI (swiftwsgi_abi.h): a layout change bumps SWIFTWSGI_ABI_VERSION. Lists cross as
 * arrays with their count, never as joined strings.
 */
#ifndef SWIFTWSGI_CONFIGURATION_H
#define SWIFTWSGI_CONFIGURATION_H

#include <stddef.h>
#include <stdint.h>

#include "swiftwsgi_status_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/** Process-wide settings, from server-config directives, passed at child start. */
typedef struct swiftwsgi_process_config {
    const char *python_home;          /* WSGIPythonHome, or NULL */
    const char *const *python_path;   /* WSGIPythonPath (or a daemon's python-path=) directories,
                                         in order */
    size_t python_path_count;
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

#ifdef __cplusplus
}
#endif

#endif /* SWIFTWSGI_CONFIGURATION_H */
