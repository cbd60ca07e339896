/*
 * swiftwsgi_handler.c — URL mapping and the request handler: the checks mod_wsgi makes, then
 * one call into the Swift host with the environ (swiftwsgi_environ.c).
 */
#include <unistd.h>

#include "swiftwsgi_handler.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_dispatch.h"
#include "swiftwsgi_environ.h"
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_status.h"
#include "swiftwsgi_abi.h"

#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "apr_strings.h"
#include "apr_lib.h"

APLOG_USE_MODULE(wsgi);

/* Length of uri's prefix matched by location (mod_alias rules: runs of '/' are equal, and the
 * match ends at a path segment boundary), or 0. */
static apr_size_t alias_matches(const char *uri, const char *location)
{
    const char *l = location, *u = uri;
    while (*l) {
        if (*l == '/') {
            if (*u != '/') return 0;
            do { ++l; } while (*l == '/');
            do { ++u; } while (*u == '/');
        }
        else if (*u++ != *l++) {
            return 0;
        }
    }
    if (l[-1] != '/' && *u != '\0' && *u != '/') return 0;
    return (apr_size_t)(u - uri);
}

int swiftwsgi_hook_translate_name(request_rec *r)
{
    const apr_array_header_t *aliases = swiftwsgi_aliases(r->server);
    const swiftwsgi_alias_t *list = (const swiftwsgi_alias_t *)aliases->elts;
    int i;

    if (r->uri[0] != '/') return DECLINED;
    for (i = 0; i < aliases->nelts; i++) {
        const swiftwsgi_alias_t *a = &list[i];
        const char *target, *rest;
        apr_size_t n;
        if (a->regex) {
            ap_regmatch_t m[AP_MAX_REG_MATCH];
            if (ap_regexec(a->regex, r->uri, AP_MAX_REG_MATCH, m, 0) != 0) continue;
            target = ap_pregsub(r->pool, a->target, r->uri, AP_MAX_REG_MATCH, m);
            if (!target) return HTTP_INTERNAL_SERVER_ERROR;
            n = (apr_size_t)m[0].rm_eo;
        }
        else {
            n = alias_matches(r->uri, a->location);
            if (n == 0) continue;
            target = a->target;
        }
        /* Keep the '/' that starts the rest of the URL: it begins PATH_INFO. */
        rest = r->uri + n;
        if (n > 0 && r->uri[n - 1] == '/' && *rest != '/') rest--;
        if (*rest == '/' && *target && target[strlen(target) - 1] == '/')
            target = apr_pstrndup(r->pool, target, strlen(target) - 1);
        r->filename = apr_pstrcat(r->pool, target, rest, NULL);
        r->handler = "wsgi-script";
        swiftwsgi_set_request_alias(r, a);
        return OK;
    }
    return DECLINED;
}


static int is_wsgi_handler(const char *handler)
{
    return handler && (!strcmp(handler, "wsgi-script") || !strcmp(handler, "application/x-httpd-wsgi"));
}


/* Ends the output stream as soon as the application's response is complete, before Apache
 * finalises the request: the response headers then decide keep-alive first, so a request
 * body the application never read is not waited for (nor a "100 Continue" sent for it)
 * when the client expects 100-continue or the connection closes. The response is then
 * flushed to the client at once (one write, as mod_wsgi's flushed writes): Apache would
 * otherwise write it only after logging the request and looking for a pipelined next one,
 * which a keep-alive client sends only once it has this response, so the connection would
 * always go through the MPM's keep-alive wait (a hand-off to the listener thread and back). */
static void end_response(request_rec *r)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb;
    if (r->eos_sent || c->aborted) return;
    bb = apr_brigade_create(r->pool, c->bucket_alloc);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (c->aborted) return;
    /* Past the request's own filters (all done with EOS): the connection's (core, TLS). */
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    ap_pass_brigade(c->output_filters, bb);
    apr_brigade_cleanup(bb);
}

int swiftwsgi_hook_handler(request_rec *r)
{
    const swiftwsgi_alias_t *alias = swiftwsgi_request_alias(r);
    const swiftwsgi_handler_script_t *handler_script = NULL;
    const swiftwsgi_daemon_group_t *daemon = NULL;
    const char *script, *application_group, *callable_object, *process_group;
    apr_time_t mtime;
    apr_array_header_t *env;
    swiftwsgi_request_t request;
    swiftwsgi_io_t io;
    int rc;

    if (!is_wsgi_handler(r->handler) && !(handler_script = swiftwsgi_handler_script(r))) return DECLINED;

    if (handler_script) {
        /* A handler script serves any resource mapped to its handler name. */
        apr_finfo_t finfo;
        if (apr_stat(&finfo, handler_script->path, APR_FINFO_MTIME | APR_FINFO_TYPE, r->pool) != APR_SUCCESS
            || finfo.filetype != APR_REG) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0909)
                          "Target WSGI handler script not found or unable to stat: %s", handler_script->path);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        script = handler_script->path;
        mtime = finfo.mtime;
        application_group = handler_script->application_group ? handler_script->application_group
                                                               : swiftwsgi_application_group(r);
        callable_object = "handle_request";
        process_group = handler_script->process_group ? swiftwsgi_expand_process_group(r, handler_script->process_group)
                                                      : swiftwsgi_process_group(r);
    }
    else {
        if (!alias && !(ap_allow_options(r) & OPT_EXECCGI)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0903)
                          "Options ExecCGI is off in this directory: %s", r->filename);
            return HTTP_FORBIDDEN;
        }
        if (r->finfo.filetype == APR_NOFILE) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0904)
                          "Target WSGI script not found or unable to stat: %s", r->filename);
            return HTTP_NOT_FOUND;
        }
        if (r->finfo.filetype == APR_DIR) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0905)
                          "Attempt to invoke directory as WSGI application: %s", r->filename);
            return HTTP_FORBIDDEN;
        }
        if (r->finfo.filetype != APR_REG) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0906)
                          "Target WSGI script is not a regular file: %s", r->filename);
            return HTTP_FORBIDDEN;
        }
        if (r->path_info && *r->path_info && r->used_path_info == AP_REQ_REJECT_PATH_INFO)
            return HTTP_NOT_FOUND;
        script = r->filename;
        mtime = r->finfo.mtime;
        application_group = swiftwsgi_application_group(r);
        callable_object = swiftwsgi_callable_object(r);
        process_group = swiftwsgi_process_group(r);
    }

    if ((rc = swiftwsgi_dispatch_request(r, &application_group, &callable_object, &process_group)) != OK) return rc;
    if (*process_group) {
        daemon = swiftwsgi_daemon_group(process_group);
        if (!daemon || !swiftwsgi_daemon_visible_from(daemon, r->server)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0907)
                          "No WSGI daemon process called '%s' has been configured: %s", process_group, script);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!swiftwsgi_process_group_allowed(r, process_group)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0912)
                          "Daemon process called '%s' cannot be accessed by this WSGI application "
                          "(WSGIRestrictProcess): %s", process_group, script);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!handler_script && !swiftwsgi_daemon_script_allowed(daemon, &r->finfo)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0913)
                          "WSGI script owner does not match the daemon group's script-user/script-group: %s", script);
            return HTTP_FORBIDDEN;
        }
    }
    else if (swiftwsgi_restrict_embedded(r->server)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0908)
                      "Embedded mode of mod_swiftwsgi disabled by runtime configuration: %s", script);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    /* 411 for a chunked body unless WSGIChunkedRequest On. */
    rc = ap_setup_client_block(r, swiftwsgi_chunked_request(r) ? REQUEST_CHUNKED_DECHUNK : REQUEST_CHUNKED_ERROR);
    if (rc == HTTP_LENGTH_REQUIRED)
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0968)
                      "Received request requiring chunked transfer encoding, but optional support for "
                      "chunked transfer encoding has not been enabled (WSGIChunkedRequest Off): %s", script);
    if (rc != OK) return rc;

    env = swiftwsgi_environ(r, handler_script ? script : "");

    memset(&io, 0, sizeof(io));
    io.r = r;
    io.in = apr_brigade_create(r->pool, r->connection->bucket_alloc);

    memset(&request, 0, sizeof(request));
    swiftwsgi_fill_script_call(&request.call, r, &io, env, script, mtime, application_group);
    request.callable_object = callable_object;
    request.process_group = process_group;
    request.script_reloading = swiftwsgi_script_reloading(r);
    request.enable_sendfile = swiftwsgi_enable_sendfile(r);
    request.header_only = r->header_only;
    request.request_handler = r->handler;
    request.error_override = swiftwsgi_error_override(r);
    request.ignore_activity = swiftwsgi_ignore_activity(r);
    if (daemon && swiftwsgi_daemon_chroot(daemon)) {
        /* chroot=: the daemon sees the script at its path inside the jail (as mod_wsgi). */
        const char *jail = swiftwsgi_daemon_chroot(daemon);
        apr_size_t n = strlen(jail);
        while (n > 1 && jail[n - 1] == '/') n--;
        if (n == 1) n = 0;  /* chroot=/ */
        if (strncmp(script, jail, n) || script[n] != '/') {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0962)
                          "WSGI script '%s' is not within the chroot directory '%s' of daemon process group '%s'",
                          script, jail, process_group);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        request.call.script_filename = script + n;
    }
    if (daemon) {
        request.daemon_socket = swiftwsgi_daemon_socket(daemon);
        request.connect_timeout = swiftwsgi_daemon_connect_timeout(daemon);
        request.socket_timeout = swiftwsgi_daemon_socket_timeout(daemon);
        request.header_buffer_size = swiftwsgi_daemon_header_buffer_size(daemon);
        request.response_flush_delay = swiftwsgi_daemon_response_flush_delay(daemon);
        request.response_buffer_size = swiftwsgi_daemon_response_buffer_size(daemon);
        /* mod_status's queue: this thread waits for the group until a daemon takes it. */
        swiftwsgi_queue_begin(swiftwsgi_daemon_index(daemon), &request.queue_cell, &request.queue_mark);
    }

    /* A daemon response's writes to the client block at most response-socket-timeout= (as mod_wsgi
     * 4.5.13+), so a client that never reads frees the daemon thread before Apache's Timeout. Not on
     * mod_http2's secondary connections, whose socket is the main connection's. */
    apr_socket_t *client = daemon && !r->connection->master ? ap_get_conn_socket(r->connection) : NULL;
    apr_interval_time_t client_timeout = 0;
    if (client && apr_socket_timeout_get(client, &client_timeout) == APR_SUCCESS)
        apr_socket_timeout_set(client, apr_time_from_sec(swiftwsgi_daemon_response_socket_timeout(daemon)));
    else
        client = NULL;

    rc = swiftwsgi_handle_request(&request);
    if (daemon) swiftwsgi_queue_end(request.queue_cell, request.queue_mark);
    if (rc == 0 && !swiftwsgi_io_abort_if_short(&io, script)) end_response(r);
    if (client) apr_socket_timeout_set(client, client_timeout);
    return rc == 0 ? OK : rc;
}
