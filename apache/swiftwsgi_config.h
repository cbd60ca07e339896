/**
 * swiftwsgi_config.h — the module's configuration: server (per virtual host) and directory
 * records, the directive table, and typed getters so no other file reads the structs' fields.
 */
#ifndef SWIFTWSGI_CONFIG_H
#define SWIFTWSGI_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "ap_regex.h"

#include "swiftwsgi_abi.h"

#if !AP_MODULE_MAGIC_AT_LEAST(20120211, 0)
#error "mod_swiftwsgi needs Apache httpd 2.4"
#endif

extern module AP_MODULE_DECLARE_DATA wsgi_module;

/** How WSGIMapHEADToGET maps HEAD requests. */
typedef enum { SWIFTWSGI_HEAD_OFF = 0, SWIFTWSGI_HEAD_ON = 1, SWIFTWSGI_HEAD_AUTO = 2 } swiftwsgi_head_map_e;

/** One WSGIScriptAlias / WSGIScriptAliasMatch. */
typedef struct {
    const char *location;          /**< URL prefix, or the regex source for ...Match */
    const char *target;            /**< script file or directory (may hold $N for ...Match) */
    ap_regex_t *regex;             /**< NULL for WSGIScriptAlias */
    const char *application_group; /**< application-group= or NULL */
    const char *callable_object;   /**< callable-object= or NULL */
    const char *process_group;     /**< process-group= or NULL */
    int pass_authorization;        /**< pass-authorization=: -1 unset */
} swiftwsgi_alias_t;

/** A WSGIAuthUserScript, WSGIAuthGroupScript or WSGIAccessScript. */
typedef struct {
    const char *path;
    const char *application_group; /**< "%{GLOBAL}" unless application-group= */
} swiftwsgi_script_t;

/** A WSGIHandlerScript: a named Apache handler backed by a script's handle_request(). */
typedef struct {
    const char *name;
    const char *path;
    const char *application_group; /**< NULL: the request's WSGIApplicationGroup */
    const char *process_group;
    int pass_authorization;        /**< -1 unset */
} swiftwsgi_handler_script_t;

/** A WSGIImportScript. */
typedef struct {
    const char *path;
    const char *application_group;
    const char *process_group;
} swiftwsgi_import_t;

/**
 * @param r the request
 * @return the alias that mapped r (set by the translate_name hook), or NULL
 */
const swiftwsgi_alias_t *swiftwsgi_request_alias(request_rec *r);
void swiftwsgi_set_request_alias(request_rec *r, const swiftwsgi_alias_t *alias);

/** @return the aliases of s (its own, then the main server's), in match order */
const apr_array_header_t *swiftwsgi_aliases(server_rec *s);

/* Per-directory values, with mod_wsgi's defaults applied. */
const char *swiftwsgi_application_group(request_rec *r);
const char *swiftwsgi_callable_object(request_rec *r);
/** The daemon group r goes to ("" for embedded mode), %{ENV:name} expanded. */
const char *swiftwsgi_process_group(request_rec *r);
/**
 * Expands a process-group spec for r, as mod_wsgi does: %{GLOBAL} and NULL are "" (Apache's
 * children); %{ENV:name} is the value of r's note, environment variable or the process's
 * environment variable name (itself possibly %{GLOBAL}), or stays as is when none is set.
 */
const char *swiftwsgi_expand_process_group(request_rec *r, const char *spec);
int swiftwsgi_script_reloading(request_rec *r);
int swiftwsgi_pass_authorization(request_rec *r);
int swiftwsgi_chunked_request(request_rec *r);
swiftwsgi_head_map_e swiftwsgi_map_head_to_get(request_rec *r);
int swiftwsgi_enable_sendfile(request_rec *r);

/* Authentication and access scripts of r's directory, or NULL. */
const swiftwsgi_script_t *swiftwsgi_auth_user_script(request_rec *r);
const swiftwsgi_script_t *swiftwsgi_auth_group_script(request_rec *r);
const swiftwsgi_script_t *swiftwsgi_access_script(request_rec *r);
int swiftwsgi_group_authoritative(request_rec *r);

/** The dispatch script of r's directory (WSGIDispatchScript), or NULL. */
const swiftwsgi_script_t *swiftwsgi_dispatch_script(request_rec *r);
/** The WSGIHandlerScript named r->handler, or NULL. */
const swiftwsgi_handler_script_t *swiftwsgi_handler_script(request_rec *r);
/** WSGIRestrictProcess: whether r may be delegated to group. */
int swiftwsgi_process_group_allowed(request_rec *r, const char *group);
/** WSGIErrorOverride */
int swiftwsgi_error_override(request_rec *r);
/** WSGIIgnoreActivity: the request does not reset a daemon's inactivity-timeout. */
int swiftwsgi_ignore_activity(request_rec *r);

/** WSGITrustedProxyHeaders of r's directory (header names as configured), or NULL. */
const apr_array_header_t *swiftwsgi_trusted_proxy_headers(request_rec *r);
/** The headers WSGITrustedProxyHeaders accepts, NULL-terminated. */
const char *const *swiftwsgi_known_proxy_headers(void);
/** Whether addr is a trusted proxy for r (WSGITrustedProxies; any address when unset). */
int swiftwsgi_is_trusted_proxy(request_rec *r, apr_sockaddr_t *addr);

/* Process-wide values (server config of the main server). */
const char *swiftwsgi_python_home(server_rec *s);
const char *swiftwsgi_python_path(server_rec *s);
int swiftwsgi_python_optimize(server_rec *s);
long swiftwsgi_python_hash_seed(server_rec *s);
const apr_array_header_t *swiftwsgi_python_warnings(server_rec *s);
int swiftwsgi_dont_write_bytecode(server_rec *s);
const char *swiftwsgi_python_eggs(server_rec *s);
int swiftwsgi_restrict_stdin(server_rec *s);
int swiftwsgi_restrict_stdout(server_rec *s);
int swiftwsgi_restrict_signal(server_rec *s);
int swiftwsgi_destroy_interpreter(server_rec *s);
int swiftwsgi_restrict_embedded(server_rec *s);
/** Whether Apache's children initialise Python (not when WSGIRestrictEmbedded On leaves them
 *  only proxying to daemon processes and no script runs in them). */
int swiftwsgi_python_required(void);
/** Forgets what the previous configuration needed (pre_config). */
void swiftwsgi_reset_python_required(void);
const apr_array_header_t *swiftwsgi_import_scripts(server_rec *s);
/** WSGISocketRotation (default On; accepted, see README). */
int swiftwsgi_socket_rotation(server_rec *s);
/** WSGISwitchInterval in seconds, 0 when unset (Python's default). */
double swiftwsgi_switch_interval(server_rec *s);
/** WSGIPerInterpreterGIL / WSGIFreeThreading at server scope (default Off). */
int swiftwsgi_per_interpreter_gil(server_rec *s);
int swiftwsgi_free_threading(server_rec *s);
/** The <WSGIInterpreterOptions> containers in configuration order (allocated from p). */
const swiftwsgi_interpreter_options_t *swiftwsgi_interpreter_options(server_rec *s, apr_pool_t *p, size_t *count);
/** WSGIServerMetrics (default Off). */
int swiftwsgi_server_metrics(server_rec *s);
/** WSGITelemetryService's socket path (NULL: not configured) and interval (default 1 s). */
const char *swiftwsgi_telemetry_socket(server_rec *s);
double swiftwsgi_telemetry_interval(server_rec *s);
/** WSGISlowRequests in seconds (0: not configured). */
double swiftwsgi_slow_requests(server_rec *s);
/** WSGITelemetryOptions: SWIFTWSGI_TELEMETRY_* flags (default none). */
int swiftwsgi_telemetry_options(server_rec *s);
/** WSGINewRelicConfigFile / WSGINewRelicEnvironment, or NULL. */
const char *swiftwsgi_newrelic_config_file(server_rec *s);
const char *swiftwsgi_newrelic_environment(server_rec *s);
/** WSGISocketPrefix as an absolute path (default DefaultRuntimeDir/wsgi). */
const char *swiftwsgi_socket_prefix(server_rec *s, apr_pool_t *p);

void *swiftwsgi_create_server_config(apr_pool_t *p, server_rec *s);
void *swiftwsgi_merge_server_config(apr_pool_t *p, void *base, void *add);
void *swiftwsgi_create_dir_config(apr_pool_t *p, char *dir);
void *swiftwsgi_merge_dir_config(apr_pool_t *p, void *base, void *add);

extern const command_rec swiftwsgi_directives[];

/**
 * The next option of a directive in mod_wsgi's syntax: name=value, the value read as Apache
 * reads a word (so `home='/srv/my site'` works), returned as "name=value" unquoted.
 * @return "" at the end of args; a word that is not name=value is returned as it is
 */
const char *swiftwsgi_next_option(apr_pool_t *p, const char **args);

#endif
