/**
 * swiftwsgi_daemon_options.h — WSGIDaemonProcess options as data: one table of
 * {name, kind, offset, min, max, unit} and a pure parser over it. It needs only APR and libc
 * (no server_rec, no httpd symbols), so a fuzz harness can link it alone.
 */
#ifndef SWIFTWSGI_DAEMON_OPTIONS_H
#define SWIFTWSGI_DAEMON_OPTIONS_H

#include "apr_pools.h"
#include "swiftwsgi_abi.h"

#include <sys/types.h>

/**
 * A daemon group's options: what the daemon process itself is told (the ABI struct, passed
 * as is to swiftwsgi_daemon_main) and what only the Apache parent uses to make the socket
 * and the processes.
 */
typedef struct swiftwsgi_daemon_options {
    swiftwsgi_daemon_config_t config; /**< name, threads=, the timeouts, buffer sizes, ... */
    int processes;                    /**< processes= */
    int processes_given;              /**< processes= was given: wsgi.multiprocess even for 1 */
    const char *user;                 /**< user= (name for initgroups) */
    long uid;                         /**< user= */
    long gid;                         /**< group= */
    int umask;                        /**< umask=, -1: unchanged */
    const char *home;                 /**< home= */
    const char *python_home;          /**< python-home= (checked by the caller) */
    const char *python_path;          /**< python-path= */
    const char *python_eggs;          /**< python-eggs= */
    const char *lang;                 /**< lang= */
    const char *locale;               /**< locale= */
    const char *display_name;         /**< display-name= */
    int connect_timeout;              /**< connect-timeout=, seconds */
    int listen_backlog;               /**< listen-backlog= */
    const char *supplementary_groups; /**< supplementary-groups=, comma-separated names */
    long cpu_time_limit;              /**< cpu-time-limit=, seconds, 0: none */
    long memory_limit;                /**< memory-limit=, bytes (RLIMIT_DATA), 0: none */
    long virtual_memory_limit;        /**< virtual-memory-limit=, bytes (RLIMIT_AS), 0: none */
    int header_buffer_size;           /**< header-buffer-size=: largest response header from the daemon */
    size_t response_buffer_size;      /**< response-buffer-size=: bytes the Apache child passes on
                                           without a flush before forcing one */
    int response_flush_delay;         /**< response-flush-delay=: milliseconds the Apache child waits
                                           for more output before flushing */
    int cpu_priority;                 /**< cpu-priority=: nice value, 0: unchanged */
    long socket_uid;                  /**< socket-user=: owner of the socket */
    long script_uid;                  /**< script-user=: scripts must be owned by it, -1: any */
    long script_gid;                  /**< script-group=, -1: any */
    const char *chroot;               /**< chroot=: the daemon's root directory (root only) */
    double switch_interval;           /**< switch-interval=, seconds, 0: Python's default */
    int server_metrics;               /**< server-metrics= (WSGIServerMetrics is not inherited) */
    const char *newrelic_config_file; /**< newrelic-config-file= (mod_wsgi 4.x/5) */
    const char *newrelic_environment; /**< newrelic-environment= (mod_wsgi 4.x/5) */
    /* Accepted and checked as mod_wsgi does, without effect here (README says why). */
    int response_socket_timeout;      /**< response-socket-timeout=, seconds */
} swiftwsgi_daemon_options_t;

/**
 * Sets every option to its default. The Apache-dependent defaults (user, uid, gid,
 * socket_uid, socket-timeout from Timeout) are the caller's to set afterwards.
 * @param name the group's name (kept, not copied)
 */
void swiftwsgi_daemon_options_init(swiftwsgi_daemon_options_t *options, const char *name);

/**
 * Parses one "name=value" option into options.
 * @param p the pool error messages (and copies) are allocated from
 * @return NULL, or an error message naming WSGIDaemonProcess, the option and the reason
 */
const char *swiftwsgi_daemon_option(apr_pool_t *p, swiftwsgi_daemon_options_t *options, const char *option);

/**
 * Completes options after the last option (values derived from several options).
 */
void swiftwsgi_daemon_options_finish(swiftwsgi_daemon_options_t *options);

/**
 * Checks what no single option can: the combinations mod_wsgi refuses.
 * @return NULL, or an error message naming WSGIDaemonProcess and the options
 */
const char *swiftwsgi_daemon_options_check(apr_pool_t *p, const swiftwsgi_daemon_options_t *options);

#endif
