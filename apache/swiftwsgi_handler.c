/*
 * swiftwsgi_handler.c — URL mapping and the request handler: the checks mod_wsgi makes, the
 * CGI environment, then one call into the Swift host.
 */
#include <unistd.h>

#include "swiftwsgi_handler.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_auth.h"
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_status.h"
#include "swiftwsgi_abi.h"

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

/* Appends name=value to the environ array. */
static void add_env(apr_array_header_t *env, const char *name, const char *value)
{
    swiftwsgi_kv_t *kv = apr_array_push(env);
    kv->name = name;
    kv->value = value ? value : "";
}

static int head_maps_to_get(request_rec *r);

/* SCRIPT_NAME never ends in '/': trailing slashes move to the front of PATH_INFO. */
static void fix_script_name(request_rec *r)
{
    const char *script_name = apr_table_get(r->subprocess_env, "SCRIPT_NAME");
    const char *path_info = apr_table_get(r->subprocess_env, "PATH_INFO");
    apr_size_t len;
    if (!path_info) apr_table_setn(r->subprocess_env, "PATH_INFO", "");
    if (!script_name) return;
    len = strlen(script_name);
    if (len == 0 || script_name[len - 1] != '/') return;
    while (len > 0 && script_name[len - 1] == '/') len--;
    apr_table_setn(r->subprocess_env, "SCRIPT_NAME", apr_pstrndup(r->pool, script_name, len));
    apr_table_setn(r->subprocess_env, "PATH_INFO",
                   apr_pstrcat(r->pool, "/", path_info && *path_info == '/' ? path_info + 1 : (path_info ? path_info : ""), NULL));
}

/* "X-Forwarded-For" -> "HTTP_X_FORWARDED_FOR" */
static const char *cgi_name(apr_pool_t *p, const char *header)
{
    char *name = apr_pstrcat(p, "HTTP_", header, NULL), *c;
    for (c = name; *c; c++) *c = *c == '-' ? '_' : apr_toupper(*c);
    return name;
}

static int is_trusted(const apr_array_header_t *trusted, const char *header)
{
    int i;
    for (i = 0; i < trusted->nelts; i++) {
        if (!strcmp(((const char **)trusted->elts)[i], header)) return 1;
    }
    return 0;
}

/* The client address in X-Forwarded-For: the right-most entry that is not a trusted proxy. */
static const char *forwarded_client(request_rec *r, const char *value)
{
    char *list = apr_pstrdup(r->pool, value), *state, *item;
    apr_array_header_t *hops = apr_array_make(r->pool, 4, sizeof(char *));
    int i;
    for (item = apr_strtok(list, ", \t", &state); item; item = apr_strtok(NULL, ", \t", &state))
        *(char **)apr_array_push(hops) = item;
    if (hops->nelts == 0) return NULL;
    for (i = hops->nelts - 1; i > 0; i--) {
        apr_sockaddr_t *addr;
        const char *hop = ((char **)hops->elts)[i];
        if (apr_sockaddr_info_get(&addr, hop, APR_UNSPEC, 0, APR_IPV4_ADDR_OK, r->pool) != APR_SUCCESS) break;
        if (!swiftwsgi_is_trusted_proxy(r, addr)) break;
    }
    return ((char **)hops->elts)[i];
}

/*
 * WSGITrustedProxyHeaders: from a trusted peer, the listed headers rewrite REMOTE_ADDR,
 * wsgi.url_scheme (HTTPS), HTTP_HOST, SERVER_NAME, SERVER_PORT and SCRIPT_NAME; every proxy
 * header that is not trusted, or comes from an untrusted peer, is removed, so a client can
 * never pass itself off as a proxy.
 */
static void apply_proxy_headers(request_rec *r)
{
    const apr_array_header_t *trusted = swiftwsgi_trusted_proxy_headers(r);
    const char *const *known = swiftwsgi_known_proxy_headers();
    apr_table_t *env = r->subprocess_env;
    int peer_trusted, i;
    if (!trusted) return;
    peer_trusted = swiftwsgi_is_trusted_proxy(r, r->connection->client_addr);
    for (i = 0; known[i]; i++) {
        const char *header = known[i], *key = cgi_name(r->pool, header);
        const char *value = apr_table_get(env, key);
        if (!value) continue;
        if (!peer_trusted || !is_trusted(trusted, header)) {
            apr_table_unset(env, key);
            continue;
        }
        if (!strcmp(header, "X-Forwarded-For")) {
            const char *client = forwarded_client(r, value);
            if (client) apr_table_setn(env, "REMOTE_ADDR", client);
        }
        else if (!strcmp(header, "X-Client-IP") || !strcmp(header, "X-Real-IP")) {
            apr_table_setn(env, "REMOTE_ADDR", value);
        }
        else if (!strcmp(header, "X-Forwarded-Proto") || !strcmp(header, "X-Forwarded-Scheme")
                 || !strcmp(header, "X-Scheme")) {
            if (!strcasecmp(value, "https")) apr_table_setn(env, "HTTPS", "1");
            else if (!strcasecmp(value, "http")) apr_table_unset(env, "HTTPS");
        }
        else if (!strcmp(header, "X-Forwarded-HTTPS") || !strcmp(header, "X-Forwarded-SSL")
                 || !strcmp(header, "X-HTTPS")) {
            if (!strcasecmp(value, "on") || !strcasecmp(value, "1") || !strcasecmp(value, "true"))
                apr_table_setn(env, "HTTPS", "1");
            else if (!strcasecmp(value, "off") || !strcasecmp(value, "0") || !strcasecmp(value, "false"))
                apr_table_unset(env, "HTTPS");
        }
        else if (!strcmp(header, "X-Forwarded-Host") || !strcmp(header, "X-Host")) {
            const char *comma = strchr(value, ',');
            apr_table_setn(env, "HTTP_HOST", comma ? apr_pstrndup(r->pool, value, comma - value) : value);
        }
        else if (!strcmp(header, "X-Forwarded-Server")) {
            apr_table_setn(env, "SERVER_NAME", value);
        }
        else if (!strcmp(header, "X-Forwarded-Port")) {
            apr_table_setn(env, "SERVER_PORT", value);
        }
        else if (!strcmp(header, "X-Script-Name") || !strcmp(header, "X-Forwarded-Script-Name")) {
            apr_table_setn(env, "mod_wsgi.mount_point", value);
            apr_table_setn(env, "SCRIPT_NAME", value);
        }
    }
}

/* ap_add_cgi_vars without PATH_TRANSLATED, which Apache finds through a subrequest: that
 * subrequest runs the access checkers again, so an access script's environ must not ask for it
 * (it would recurse); mod_wsgi's environ for these scripts has no PATH_TRANSLATED either. */
static void add_cgi_vars(request_rec *r, int path_translated)
{
    const char *path_info = r->path_info;
    if (path_translated || !path_info || !*path_info) {
        ap_add_cgi_vars(r);
        return;
    }
    r->path_info = NULL;
    ap_add_cgi_vars(r);
    r->path_info = (char *)path_info;
    apr_table_setn(r->subprocess_env, "SCRIPT_NAME",
                   apr_pstrndup(r->pool, r->uri, ap_find_path_info(r->uri, path_info)));
    apr_table_setn(r->subprocess_env, "PATH_INFO", path_info);
}

apr_array_header_t *swiftwsgi_environ(request_rec *r)
{
    return swiftwsgi_environ_ex(r, 1);
}

apr_array_header_t *swiftwsgi_environ_ex(request_rec *r, int path_translated)
{
    const apr_array_header_t *vars;
    const apr_table_entry_t *e;
    apr_array_header_t *env;
    const char *https;
    int i, secure;

    ap_add_common_vars(r);
    add_cgi_vars(r, path_translated);
    fix_script_name(r);
    apply_proxy_headers(r);
    if (r->header_only && head_maps_to_get(r)) apr_table_setn(r->subprocess_env, "REQUEST_METHOD", "GET");

    /* As mod_wsgi: wsgi.url_scheme comes from HTTPS (on or 1, as mod_ssl or SetEnv set it),
     * which then leaves the environ. */
    https = apr_table_get(r->subprocess_env, "HTTPS");
    secure = https && (!strcasecmp(https, "on") || !strcmp(https, "1"));
    vars = apr_table_elts(r->subprocess_env);
    env = apr_array_make(r->pool, vars->nelts + 16, sizeof(swiftwsgi_kv_t));
    e = (const apr_table_entry_t *)vars->elts;
    for (i = 0; i < vars->nelts; i++) {
        /* mod_wsgi leaves out PATH (Apache's own search path) as well. */
        if (e[i].key && strcmp(e[i].key, "HTTPS") && strcmp(e[i].key, "PATH")) add_env(env, e[i].key, e[i].val);
    }
    if (swiftwsgi_pass_authorization(r)) {
        const char *auth = apr_table_get(r->headers_in, "Authorization");
        if (auth) add_env(env, "HTTP_AUTHORIZATION", auth);
    }
    add_env(env, "wsgi.url_scheme", secure ? "https" : "http");
    add_env(env, "mod_wsgi.request_handler", r->handler ? r->handler : "");
    add_env(env, "mod_wsgi.handler_script", "");
    add_env(env, "mod_wsgi.script_name", apr_table_get(r->subprocess_env, "SCRIPT_NAME"));
    add_env(env, "mod_wsgi.path_info", apr_table_get(r->subprocess_env, "PATH_INFO"));
    add_env(env, "mod_wsgi.listener_host", r->connection->local_ip);
    add_env(env, "mod_wsgi.listener_port", apr_itoa(r->pool, r->connection->local_addr->port));
    add_env(env, "mod_wsgi.request_start", apr_psprintf(r->pool, "%" APR_TIME_T_FMT, r->request_time));
    add_env(env, "mod_wsgi.script_start", apr_psprintf(r->pool, "%" APR_TIME_T_FMT, apr_time_now()));
    /* mod_wsgi 6.1: the Apache child that took the request (also in daemon mode). */
    add_env(env, "mod_wsgi.server_pid", apr_psprintf(r->pool, "%" APR_PID_T_FMT, getpid()));
    if (!r->log_id) ap_run_generate_log_id(r->connection, r, &r->log_id);
    add_env(env, "mod_wsgi.request_id", r->log_id ? r->log_id
            : apr_psprintf(r->pool, "%" APR_TIME_T_FMT "-%pp", r->request_time, (void *)r));
    if (r->connection->log_id) add_env(env, "mod_wsgi.connection_id", r->connection->log_id);
    add_env(env, "mod_wsgi.ignore_activity", swiftwsgi_ignore_activity(r) ? "1" : "0");
    return env;
}

static int head_maps_to_get(request_rec *r)
{
    switch (swiftwsgi_map_head_to_get(r)) {
    case SWIFTWSGI_HEAD_ON: return 1;
    case SWIFTWSGI_HEAD_OFF: return 0;
    default:
        /* Auto: when an output filter may need the body to compute headers (e.g. a
         * content-transforming filter), present HEAD as GET. */
        return r->output_filters != r->proto_output_filters;
    }
}

static int is_wsgi_handler(const char *handler)
{
    return handler && (!strcmp(handler, "wsgi-script") || !strcmp(handler, "application/x-httpd-wsgi"));
}

void swiftwsgi_fill_script_call(swiftwsgi_script_call_t *call, request_rec *r, void *handle,
                                const apr_array_header_t *env, const char *script, apr_time_t mtime,
                                const char *application_group)
{
    call->handle = handle;
    call->environ = (const swiftwsgi_kv_t *)env->elts;
    call->environ_count = (size_t)env->nelts;
    call->script_filename = script;
    call->script_mtime = (int64_t)mtime;
    call->server_hostname = r->server->server_hostname ? r->server->server_hostname : "";
    call->server_port = r->server->port ? r->server->port : r->connection->local_addr->port;
    call->application_group = application_group;
}

/* Runs r's WSGIDispatchScript, if any, overriding the groups and callable it answers for. */
static int dispatch(request_rec *r, const char **application_group, const char **callable_object,
                    const char **process_group)
{
    const swiftwsgi_script_t *script = swiftwsgi_dispatch_script(r);
    swiftwsgi_dispatch_answer_t answer;
    if (!script) return OK;
    switch (swiftwsgi_call_dispatch_script(r, script, &answer)) {
    case SWIFTWSGI_AUTH_GRANTED: break;
    case SWIFTWSGI_AUTH_NOT_FOUND: return OK;  /* no dispatch script: the defaults */
    default: return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (answer.application_group) *application_group = answer.application_group;
    if (answer.callable_object) *callable_object = answer.callable_object;
    if (answer.process_group) *process_group = swiftwsgi_expand_process_group(r, answer.process_group);
    return OK;
}

/* Sets an environ entry that swiftwsgi_environ already added. */
static void replace_env(apr_array_header_t *env, const char *name, const char *value)
{
    swiftwsgi_kv_t *kv = (swiftwsgi_kv_t *)env->elts;
    int i;
    for (i = 0; i < env->nelts; i++) {
        if (!strcmp(kv[i].name, name)) {
            kv[i].value = value;
            return;
        }
    }
    add_env(env, name, value);
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

    if ((rc = dispatch(r, &application_group, &callable_object, &process_group)) != OK) return rc;
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

    env = swiftwsgi_environ(r);
    if (handler_script) replace_env(env, "mod_wsgi.handler_script", script);

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

    rc = swiftwsgi_handle_request(&request);
    if (daemon) swiftwsgi_queue_end(request.queue_cell, request.queue_mark);
    if (rc == 0 && !swiftwsgi_io_abort_if_short(&io, script)) end_response(r);
    return rc == 0 ? OK : rc;
}
