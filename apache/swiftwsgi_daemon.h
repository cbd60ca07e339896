/**
 * swiftwsgi_daemon.h — daemon mode, Apache side: WSGIDaemonProcess groups, their listening
 * sockets, and their processes, forked from the Apache parent after configuration and
 * restarted by it when they die (as mod_cgid does with its daemon).
 */
#ifndef SWIFTWSGI_DAEMON_H
#define SWIFTWSGI_DAEMON_H

#include "httpd.h"
#include "http_config.h"
#include "swiftwsgi_abi.h"

/** A WSGIDaemonProcess group. */
typedef struct swiftwsgi_daemon_group swiftwsgi_daemon_group_t;

/** WSGIDaemonProcess name [option=value ...] */
const char *swiftwsgi_set_daemon_process(cmd_parms *cmd, void *mconfig, const char *args);

/** @return the group called name, or NULL */
const swiftwsgi_daemon_group_t *swiftwsgi_daemon_group(const char *name);
const char *swiftwsgi_daemon_socket(const swiftwsgi_daemon_group_t *group);
int swiftwsgi_daemon_connect_timeout(const swiftwsgi_daemon_group_t *group);
int swiftwsgi_daemon_socket_timeout(const swiftwsgi_daemon_group_t *group);
/** Seconds a write of a daemon response to the client may block (response-socket-timeout=,
 *  else socket-timeout=). */
int swiftwsgi_daemon_response_socket_timeout(const swiftwsgi_daemon_group_t *group);
/** header-buffer-size=: the largest response header the daemon may send. */
int swiftwsgi_daemon_header_buffer_size(const swiftwsgi_daemon_group_t *group);
/** response-flush-delay= (milliseconds) and response-buffer-size= (bytes): how the Apache child
 *  flushes the group's responses to the client (mod_wsgi 6.0.2). */
int swiftwsgi_daemon_response_flush_delay(const swiftwsgi_daemon_group_t *group);
size_t swiftwsgi_daemon_response_buffer_size(const swiftwsgi_daemon_group_t *group);
/** The group's index among the configuration's groups (as swiftwsgi_daemon_group_info's). */
int swiftwsgi_daemon_index(const swiftwsgi_daemon_group_t *group);
/** chroot= of the group, or NULL. */
const char *swiftwsgi_daemon_chroot(const swiftwsgi_daemon_group_t *group);

/**
 * Closes the inherited listening sockets of every group but keep (NULL: all). Apache's
 * children call it at start, so a stopped daemon's socket really closes and connections
 * still queued on it are refused (and retried) instead of waiting forever.
 */
void swiftwsgi_daemon_close_listeners(const swiftwsgi_daemon_group_t *keep);

/** Whether finfo (a script) satisfies the group's script-user= / script-group=. */
int swiftwsgi_daemon_script_allowed(const swiftwsgi_daemon_group_t *group, const apr_finfo_t *finfo);

/** Whether requests of server s may use group (groups of a virtual host are its own). */
int swiftwsgi_daemon_visible_from(const swiftwsgi_daemon_group_t *group, server_rec *s);

/** Forgets the previous configuration's groups (pre_config). */
void swiftwsgi_daemon_reset(void);

/** Creates the sockets and forks the processes (post_config, except the first dry run). */
int swiftwsgi_daemon_start(apr_pool_t *pconf, server_rec *s);

/** The number of daemon process groups of the configuration (for mod_status). */
int swiftwsgi_daemon_group_count(void);

/** Group i's name, processes=, threads= and its processes' shared counters (NULL when they
 *  could not be mapped). */
const char *swiftwsgi_daemon_group_info(int i, int *processes, int *threads,
                                        const swiftwsgi_daemon_status_t **status);

#endif
