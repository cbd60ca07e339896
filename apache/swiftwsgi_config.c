/*
 * swiftwsgi_config.c — the configuration records: created and merged per server and per
 * directory, read through the typed getters (swiftwsgi_config.h), which hold the defaults. The
 * directives that fill them are in swiftwsgi_directives.c.
 */
#include "swiftwsgi_config.h"
#include "swiftwsgi_config_records.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_abi.h"
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_handshake.h"

#include "http_core.h"
#include "http_log.h"
#include "apr_strings.h"
#include "apr_lib.h"
#include "apr_network_io.h"

#include <math.h>
#include <sys/un.h>

void *swiftwsgi_create_server_config(apr_pool_t *p, server_rec *s)
{
    swiftwsgi_server_config_t *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->aliases = apr_array_make(p, 4, sizeof(swiftwsgi_alias_t));
    c->import_scripts = apr_array_make(p, 2, sizeof(swiftwsgi_import_t));
    c->python_optimize = UNSET;
    c->python_hash_seed = UNSET;
    c->python_warnings = apr_array_make(p, 2, sizeof(const char *));
    c->dont_write_bytecode = UNSET;
    c->restrict_stdin = UNSET;
    c->restrict_stdout = UNSET;
    c->restrict_signal = UNSET;
    c->destroy_interpreter = UNSET;
    c->restrict_embedded = UNSET;
    c->verbose_debugging = UNSET;
    c->socket_rotation = UNSET;
    c->server_metrics = UNSET;
    c->per_interpreter_gil = UNSET;
    c->free_threading = UNSET;
    c->interpreter_options = apr_array_make(p, 2, sizeof(interpreter_options_t *));
    c->slow_requests = UNSET;
    c->telemetry_interval = UNSET;
    return c;
}

void *swiftwsgi_merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    swiftwsgi_server_config_t *base = basev, *add = addv;
    swiftwsgi_server_config_t *c = apr_pcalloc(p, sizeof(*c));
    /* A virtual host's aliases are tried before the main server's. */
    c->aliases = apr_array_append(p, add->aliases, base->aliases);
    c->import_scripts = apr_array_append(p, base->import_scripts, add->import_scripts);
    c->python_home = base->python_home;
    c->python_path = base->python_path;
    c->python_optimize = base->python_optimize;
    c->python_hash_seed = base->python_hash_seed;
    c->python_warnings = base->python_warnings;
    c->dont_write_bytecode = base->dont_write_bytecode;
    c->python_eggs = base->python_eggs;
    c->restrict_stdin = base->restrict_stdin;
    c->restrict_stdout = base->restrict_stdout;
    c->restrict_signal = base->restrict_signal;
    c->destroy_interpreter = base->destroy_interpreter;
    c->restrict_embedded = base->restrict_embedded;
    c->socket_prefix = base->socket_prefix;
    c->verbose_debugging = base->verbose_debugging;
    c->socket_rotation = base->socket_rotation;
    c->accept_mutex = base->accept_mutex;
    c->switch_interval = base->switch_interval;
    c->server_metrics = base->server_metrics;
    c->per_interpreter_gil = base->per_interpreter_gil;
    c->free_threading = base->free_threading;
    c->interpreter_options = base->interpreter_options;
    c->slow_requests = base->slow_requests;
    c->telemetry_socket = base->telemetry_socket;
    c->telemetry_interval = base->telemetry_interval;
    c->telemetry_options = base->telemetry_options;
    c->newrelic_config_file = base->newrelic_config_file;
    c->newrelic_environment = base->newrelic_environment;
    return c;
}

void *swiftwsgi_create_dir_config(apr_pool_t *p, char *dir)
{
    swiftwsgi_dir_config_t *c = apr_pcalloc(p, sizeof(*c));
    (void)dir;
    c->script_reloading = UNSET;
    c->pass_authorization = UNSET;
    c->chunked_request = UNSET;
    c->map_head_to_get = UNSET;
    c->enable_sendfile = UNSET;
    c->group_authoritative = UNSET;
    c->error_override = UNSET;
    c->ignore_activity = UNSET;
    c->pass_apache_request = UNSET;
    return c;
}

#define MERGE_PTR(f) c->f = add->f ? add->f : base->f
#define MERGE_INT(f) c->f = add->f != UNSET ? add->f : base->f

void *swiftwsgi_merge_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    swiftwsgi_dir_config_t *base = basev, *add = addv;
    swiftwsgi_dir_config_t *c = apr_pcalloc(p, sizeof(*c));
    MERGE_PTR(application_group);
    MERGE_PTR(callable_object);
    MERGE_PTR(process_group);
    MERGE_INT(script_reloading);
    MERGE_INT(pass_authorization);
    MERGE_INT(chunked_request);
    MERGE_INT(map_head_to_get);
    MERGE_INT(enable_sendfile);
    MERGE_PTR(auth_user_script);
    MERGE_PTR(auth_group_script);
    MERGE_PTR(access_script);
    MERGE_INT(group_authoritative);
    MERGE_PTR(trusted_proxy_headers);
    MERGE_PTR(trusted_proxies);
    MERGE_PTR(dispatch_script);
    MERGE_INT(error_override);
    MERGE_PTR(restrict_process);
    MERGE_INT(ignore_activity);
    MERGE_INT(pass_apache_request);
    /* Handler scripts of the inner section come first, so they win by name. */
    if (add->handler_scripts && base->handler_scripts)
        c->handler_scripts = apr_array_append(p, add->handler_scripts, base->handler_scripts);
    else
        c->handler_scripts = add->handler_scripts ? add->handler_scripts : base->handler_scripts;
    return c;
}

/* ---- getters ------------------------------------------------------------------------- */

#define DEFAULTED(v, d) ((v) == UNSET ? (d) : (v))

const swiftwsgi_alias_t *swiftwsgi_request_alias(request_rec *r)
{
    return ap_get_module_config(r->request_config, &wsgi_module);
}

void swiftwsgi_set_request_alias(request_rec *r, const swiftwsgi_alias_t *alias)
{
    ap_set_module_config(r->request_config, &wsgi_module, (void *)alias);
}

const apr_array_header_t *swiftwsgi_aliases(server_rec *s) { return server_config(s)->aliases; }

const char *swiftwsgi_application_group(request_rec *r)
{
    const swiftwsgi_alias_t *a = swiftwsgi_request_alias(r);
    if (a && a->application_group) return a->application_group;
    return dir_config(r)->application_group ? dir_config(r)->application_group : "%{RESOURCE}";
}

const char *swiftwsgi_callable_object(request_rec *r)
{
    const swiftwsgi_alias_t *a = swiftwsgi_request_alias(r);
    if (a && a->callable_object) return a->callable_object;
    return dir_config(r)->callable_object ? dir_config(r)->callable_object : "application";
}

const char *swiftwsgi_process_group(request_rec *r)
{
    const swiftwsgi_alias_t *a = swiftwsgi_request_alias(r);
    return swiftwsgi_expand_process_group(r, (a && a->process_group) ? a->process_group
                                                                     : dir_config(r)->process_group);
}

const char *swiftwsgi_expand_process_group(request_rec *r, const char *spec)
{
    const char *value;
    apr_size_t len;
    char *name;
    if (!spec || !strcmp(spec, "%{GLOBAL}")) return "";
    if (strncmp(spec, "%{ENV:", 6) || (len = strlen(spec)) < 8 || spec[len - 1] != '}') return spec;
    /* %{ENV:name}: Apache's notes, the request's environment, then the process's (as mod_wsgi). */
    name = apr_pstrmemdup(r->pool, spec + 6, len - 7);
    if (!(value = apr_table_get(r->notes, name)) && !(value = apr_table_get(r->subprocess_env, name))
        && !(value = getenv(name)))
        return spec;
    /* The value may be %{GLOBAL}, never another %{ENV:...}. */
    return strcmp(value, "%{GLOBAL}") ? value : "";
}

int swiftwsgi_script_reloading(request_rec *r) { return DEFAULTED(dir_config(r)->script_reloading, 1); }

int swiftwsgi_pass_authorization(request_rec *r)
{
    const swiftwsgi_alias_t *a = swiftwsgi_request_alias(r);
    if (a && a->pass_authorization != UNSET) return a->pass_authorization;
    return DEFAULTED(dir_config(r)->pass_authorization, 0);
}

int swiftwsgi_chunked_request(request_rec *r) { return DEFAULTED(dir_config(r)->chunked_request, 0); }

swiftwsgi_head_map_e swiftwsgi_map_head_to_get(request_rec *r)
{
    return DEFAULTED(dir_config(r)->map_head_to_get, SWIFTWSGI_HEAD_AUTO);
}

int swiftwsgi_enable_sendfile(request_rec *r) { return DEFAULTED(dir_config(r)->enable_sendfile, 0); }

const swiftwsgi_script_t *swiftwsgi_auth_user_script(request_rec *r) { return dir_config(r)->auth_user_script; }
const swiftwsgi_script_t *swiftwsgi_auth_group_script(request_rec *r) { return dir_config(r)->auth_group_script; }
const swiftwsgi_script_t *swiftwsgi_access_script(request_rec *r) { return dir_config(r)->access_script; }
const apr_array_header_t *swiftwsgi_trusted_proxy_headers(request_rec *r)
{
    return dir_config(r)->trusted_proxy_headers;
}

int swiftwsgi_is_trusted_proxy(request_rec *r, apr_sockaddr_t *addr)
{
    const apr_array_header_t *proxies = dir_config(r)->trusted_proxies;
    int i;
    if (!proxies) return 1;
    for (i = 0; i < proxies->nelts; i++) {
        if (apr_ipsubnet_test(((apr_ipsubnet_t **)proxies->elts)[i], addr)) return 1;
    }
    return 0;
}

const swiftwsgi_script_t *swiftwsgi_dispatch_script(request_rec *r) { return dir_config(r)->dispatch_script; }

const swiftwsgi_handler_script_t *swiftwsgi_handler_script(request_rec *r)
{
    const apr_array_header_t *list = dir_config(r)->handler_scripts;
    int i;
    if (!list || !r->handler) return NULL;
    for (i = 0; i < list->nelts; i++) {
        const swiftwsgi_handler_script_t *h = &((const swiftwsgi_handler_script_t *)list->elts)[i];
        if (!strcmp(h->name, r->handler)) return h;
    }
    return NULL;
}

int swiftwsgi_process_group_allowed(request_rec *r, const char *group)
{
    const apr_array_header_t *allowed = dir_config(r)->restrict_process;
    int i;
    if (!allowed) return 1;
    for (i = 0; i < allowed->nelts; i++) {
        if (!strcmp(((const char **)allowed->elts)[i], group)) return 1;
    }
    return 0;
}

int swiftwsgi_error_override(request_rec *r) { return DEFAULTED(dir_config(r)->error_override, 0); }
int swiftwsgi_ignore_activity(request_rec *r) { return DEFAULTED(dir_config(r)->ignore_activity, 0); }

int swiftwsgi_group_authoritative(request_rec *r) { return DEFAULTED(dir_config(r)->group_authoritative, 1); }

const char *swiftwsgi_python_home(server_rec *s) { return server_config(s)->python_home; }
const char *swiftwsgi_python_path(server_rec *s) { return server_config(s)->python_path; }
int swiftwsgi_python_optimize(server_rec *s) { return DEFAULTED(server_config(s)->python_optimize, 0); }
long swiftwsgi_python_hash_seed(server_rec *s) { return server_config(s)->python_hash_seed; }
const apr_array_header_t *swiftwsgi_python_warnings(server_rec *s) { return server_config(s)->python_warnings; }
int swiftwsgi_dont_write_bytecode(server_rec *s) { return DEFAULTED(server_config(s)->dont_write_bytecode, 0); }
const char *swiftwsgi_python_eggs(server_rec *s) { return server_config(s)->python_eggs; }
int swiftwsgi_restrict_stdin(server_rec *s) { return DEFAULTED(server_config(s)->restrict_stdin, 0); }
int swiftwsgi_restrict_stdout(server_rec *s) { return DEFAULTED(server_config(s)->restrict_stdout, 0); }
int swiftwsgi_restrict_signal(server_rec *s) { return DEFAULTED(server_config(s)->restrict_signal, 1); }
int swiftwsgi_destroy_interpreter(server_rec *s) { return DEFAULTED(server_config(s)->destroy_interpreter, 1); }
int swiftwsgi_restrict_embedded(server_rec *s) { return DEFAULTED(server_config(s)->restrict_embedded, 0); }
const char *swiftwsgi_socket_prefix(server_rec *s, apr_pool_t *p)
{
    const char *prefix = server_config(s)->socket_prefix;
    return prefix ? ap_server_root_relative(p, prefix) : ap_runtime_dir_relative(p, "wsgi");
}

const apr_array_header_t *swiftwsgi_import_scripts(server_rec *s) { return server_config(s)->import_scripts; }
int swiftwsgi_socket_rotation(server_rec *s) { return DEFAULTED(server_config(s)->socket_rotation, 1); }
double swiftwsgi_switch_interval(server_rec *s) { return server_config(s)->switch_interval; }
int swiftwsgi_server_metrics(server_rec *s) { return DEFAULTED(server_config(s)->server_metrics, 0); }
const char *swiftwsgi_telemetry_socket(server_rec *s) { return server_config(s)->telemetry_socket; }
double swiftwsgi_telemetry_interval(server_rec *s) { return DEFAULTED(server_config(s)->telemetry_interval, 1.0); }
double swiftwsgi_slow_requests(server_rec *s) { return DEFAULTED(server_config(s)->slow_requests, 0.0); }
int swiftwsgi_telemetry_options(server_rec *s) { return server_config(s)->telemetry_options; }
int swiftwsgi_per_interpreter_gil(server_rec *s) { return DEFAULTED(server_config(s)->per_interpreter_gil, 0); }
int swiftwsgi_free_threading(server_rec *s) { return DEFAULTED(server_config(s)->free_threading, 0); }

const swiftwsgi_interpreter_options_t *swiftwsgi_interpreter_options(server_rec *s, apr_pool_t *p, size_t *count)
{
    const apr_array_header_t *blocks = server_config(s)->interpreter_options;
    swiftwsgi_interpreter_options_t *out = apr_pcalloc(p, sizeof(*out) * (blocks->nelts + 1));
    int i;
    for (i = 0; i < blocks->nelts; i++) {
        const interpreter_options_t *b = ((interpreter_options_t **)blocks->elts)[i];
        out[i] = b->options;
        out[i].python_path = (const char *const *)b->python_path->elts;
        out[i].python_path_count = (size_t)b->python_path->nelts;
    }
    *count = (size_t)blocks->nelts;
    return out;
}
const char *swiftwsgi_newrelic_config_file(server_rec *s) { return server_config(s)->newrelic_config_file; }
const char *swiftwsgi_newrelic_environment(server_rec *s) { return server_config(s)->newrelic_environment; }
