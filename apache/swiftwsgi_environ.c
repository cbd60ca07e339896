/*
 * swiftwsgi_environ.c — the Apache side of the WSGI environ, built in this one place for every
 * call into a script (the request handler, authentication, access and dispatch scripts): CGI
 * variables, the trusted proxy headers, wsgi.url_scheme and the mod_wsgi.* keys the shim
 * knows. The Swift host adds the per-interpreter rest (PythonRuntime.baseEnviron).
 */
#include <unistd.h>

#include "swiftwsgi_environ.h"
#include "swiftwsgi_config.h"

#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_script.h"
#include "apr_strings.h"
#include "apr_lib.h"

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

static apr_array_header_t *build_environ(request_rec *r, int path_translated, const char *handler_script)
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
    add_env(env, "mod_wsgi.handler_script", handler_script);
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

apr_array_header_t *swiftwsgi_environ(request_rec *r, const char *handler_script)
{
    return build_environ(r, 1, handler_script);
}

apr_array_header_t *swiftwsgi_script_environ(request_rec *r)
{
    return build_environ(r, 0, "");
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
