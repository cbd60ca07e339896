/**
 * swiftwsgi_config_records.h — the configuration records behind the getters of
 * swiftwsgi_config.h, shared by swiftwsgi_config.c (create, merge, getters) and
 * swiftwsgi_directives.c (the directives that fill them). No other file includes it: the rest of
 * the shim reads the configuration through the getters.
 */
#ifndef SWIFTWSGI_CONFIG_RECORDS_H
#define SWIFTWSGI_CONFIG_RECORDS_H

#include "httpd.h"
#include "http_config.h"

#include "swiftwsgi_config.h"
#include "swiftwsgi_abi.h"

#define UNSET (-1)

/* One <WSGIInterpreterOptions> container: its selectors and settings as the host reads them,
 * and its WSGIPythonPath directories. */
typedef struct {
    swiftwsgi_interpreter_options_t options;
    apr_array_header_t *python_path;    /* const char * */
} interpreter_options_t;

typedef struct {
    apr_array_header_t *aliases;        /* swiftwsgi_alias_t */
    apr_array_header_t *import_scripts; /* swiftwsgi_import_t */
    /* Process-wide settings: meaningful in the main server only (GLOBAL_ONLY directives). */
    const char *python_home;
    const char *python_path;
    int python_optimize;
    long python_hash_seed;              /* -1 unset, -2 random */
    apr_array_header_t *python_warnings;
    int dont_write_bytecode;
    const char *python_eggs;
    int restrict_stdin;
    int restrict_stdout;
    int restrict_signal;
    int destroy_interpreter;
    int restrict_embedded;
    const char *socket_prefix;
    int verbose_debugging;              /* accepted; no effect (as in mod_wsgi 6) */
    int socket_rotation;
    const char *accept_mutex;           /* accepted; daemon processes accept without a mutex */
    double switch_interval;             /* 0: unset */
    int server_metrics;
    int per_interpreter_gil;
    int free_threading;
    apr_array_header_t *interpreter_options; /* interpreter_options_t *, in configuration order */
    double slow_requests;               /* WSGISlowRequests seconds; -1 unset */
    const char *telemetry_socket;       /* WSGITelemetryService's path, or NULL */
    double telemetry_interval;          /* its interval=; -1 unset */
    int telemetry_options;              /* WSGITelemetryOptions flags */
    const char *newrelic_config_file;
    const char *newrelic_environment;
} swiftwsgi_server_config_t;

typedef struct {
    const char *application_group;
    const char *callable_object;
    const char *process_group;
    int script_reloading;
    int pass_authorization;
    int chunked_request;
    int map_head_to_get;
    int enable_sendfile;
    const swiftwsgi_script_t *auth_user_script;
    const swiftwsgi_script_t *auth_group_script;
    const swiftwsgi_script_t *access_script;
    int group_authoritative;
    apr_array_header_t *trusted_proxy_headers; /* const char * */
    apr_array_header_t *trusted_proxies;       /* apr_ipsubnet_t * */
    const swiftwsgi_script_t *dispatch_script;
    apr_array_header_t *handler_scripts;       /* swiftwsgi_handler_script_t */
    int error_override;
    apr_array_header_t *restrict_process;      /* const char *, NULL: any group */
    int ignore_activity;
    int pass_apache_request;
} swiftwsgi_dir_config_t;

static inline swiftwsgi_server_config_t *server_config(server_rec *s)
{
    return ap_get_module_config(s->module_config, &wsgi_module);
}

static inline swiftwsgi_dir_config_t *dir_config(request_rec *r)
{
    return ap_get_module_config(r->per_dir_config, &wsgi_module);
}

#endif
