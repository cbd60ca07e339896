/*
 * swiftwsgi_directives.c — the directives with mod_wsgi 4.x/5.x/6.x syntax, contexts and
 * defaults, and the command table. A bad value fails `apachectl configtest` naming the
 * directive and the reason. They fill the records of swiftwsgi_config_records.h.
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

/* ---- directive setters ------------------------------------------------------------------ */

static const char *check_group(cmd_parms *cmd, const char *value)
{
    char reason[256];
    const char *refused = swiftwsgi_abi_refusal();
    if (refused) return refused;
    if (swiftwsgi_check_application_group(value, reason, sizeof(reason)) != 0)
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, reason);
    return NULL;
}

/* A process group: %{GLOBAL}, %{ENV:name} (expanded per request) or a WSGIDaemonProcess name
 * (looked up per request: the group may be defined later in the configuration). */
static const char *check_process_group(cmd_parms *cmd, const char *option, const char *value)
{
    apr_size_t len = strlen(value);
    if (strncmp(value, "%{", 2) || !strcmp(value, "%{GLOBAL}")) return NULL;
    if (!strncmp(value, "%{ENV:", 6) && len > 7 && value[len - 1] == '}' && !strchr(value + 6, '}')[1]) return NULL;
    return apr_psprintf(cmd->pool, "%s: %s'%s' is not a process group: use %%{GLOBAL}, %%{ENV:variable} or the "
                        "name of a WSGIDaemonProcess", cmd->cmd->name, option ? option : "", value);
}

const char *swiftwsgi_next_option(apr_pool_t *p, const char **args)
{
    const char *s = *args, *end, *name;
    while (*s && apr_isspace(*s)) s++;
    *args = s;
    if (!*s) return "";
    for (end = s; *end && *end != '=' && !apr_isspace(*end); end++) {}
    if (*end != '=' || end == s) return ap_getword_conf(p, args);  /* not name=value: the caller says so */
    name = apr_pstrndup(p, s, (apr_size_t)(end - s));
    *args = end + 1;
    if (!**args || apr_isspace(**args)) return apr_pstrcat(p, name, "=", NULL);
    return apr_pstrcat(p, name, "=", ap_getword_conf(p, args), NULL);
}

/* Parses the key=value options after a WSGIScriptAlias target into alias. */
static const char *parse_alias_options(cmd_parms *cmd, swiftwsgi_alias_t *alias, const char *args)
{
    while (*args) {
        const char *option = swiftwsgi_next_option(cmd->pool, &args);
        const char *value = strchr(option, '=');
        const char *err;
        if (!*option) break;
        if (!value || value == option)
            return apr_psprintf(cmd->pool, "%s: invalid option '%s' (expected name=value)", cmd->cmd->name, option);
        value++;
        if (!strncmp(option, "application-group=", 18)) {
            if (!*value) return apr_psprintf(cmd->pool, "%s: application-group= needs a name", cmd->cmd->name);
            if ((err = check_group(cmd, value))) return err;
            alias->application_group = value;
        }
        else if (!strncmp(option, "process-group=", 14)) {
            if (!*value) return apr_psprintf(cmd->pool, "%s: process-group= needs a name", cmd->cmd->name);
            if ((err = check_process_group(cmd, "process-group=", value))) return err;
            alias->process_group = value;
        }
        else if (!strncmp(option, "callable-object=", 16)) {
            if (!*value) return apr_psprintf(cmd->pool, "%s: callable-object= needs a name", cmd->cmd->name);
            alias->callable_object = value;
        }
        else if (!strncmp(option, "pass-authorization=", 19)) {
            if (!strcasecmp(value, "On")) alias->pass_authorization = 1;
            else if (!strcasecmp(value, "Off")) alias->pass_authorization = 0;
            else return apr_psprintf(cmd->pool, "%s: pass-authorization= must be On or Off, not '%s'",
                                     cmd->cmd->name, value);
        }
        else {
            return apr_psprintf(cmd->pool, "%s: unknown option '%s'", cmd->cmd->name, option);
        }
    }
    return NULL;
}

static const char *set_script_alias(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_server_config_t *c = server_config(cmd->server);
    swiftwsgi_alias_t *alias;
    const char *location = ap_getword_conf(cmd->pool, &args);
    const char *target = ap_getword_conf(cmd->pool, &args);
    int is_match = cmd->info != NULL;
    (void)mconfig;
    if (!*location || !*target)
        return apr_psprintf(cmd->pool, "%s needs a URL %s and a script path", cmd->cmd->name,
                            is_match ? "regular expression" : "prefix");
    alias = apr_array_push(c->aliases);
    memset(alias, 0, sizeof(*alias));
    alias->location = location;
    alias->target = target;
    alias->pass_authorization = UNSET;
    if (is_match) {
        alias->regex = ap_pregcomp(cmd->pool, location, AP_REG_EXTENDED);
        if (!alias->regex)
            return apr_psprintf(cmd->pool, "%s: invalid regular expression '%s'", cmd->cmd->name, location);
    }
    else if (*location != '/') {
        return apr_psprintf(cmd->pool, "%s: URL prefix '%s' must begin with '/'", cmd->cmd->name, location);
    }
    return parse_alias_options(cmd, alias, args);
}

static const char *set_dir_string(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_dir_config_t *c = mconfig;
    const char *err;
    const char *which = (const char *)cmd->info;
    if (!*value) return apr_psprintf(cmd->pool, "%s needs a value", cmd->cmd->name);
    if (!strcmp(which, "application_group")) {
        if ((err = check_group(cmd, value))) return err;
        c->application_group = value;
    }
    else if (!strcmp(which, "callable_object")) c->callable_object = value;
    else if (!strcmp(which, "process_group")) {
        if ((err = check_process_group(cmd, NULL, value))) return err;
        c->process_group = value;
    }
    return NULL;
}

/* On/Off directives take exactly one argument (Apache's FLAG type would let trailing words
 * through unnoticed). */
static const char *parse_on_off(cmd_parms *cmd, const char *value, int *on)
{
    if (!strcasecmp(value, "On")) *on = 1;
    else if (!strcasecmp(value, "Off")) *on = 0;
    else return apr_psprintf(cmd->pool, "%s must be On or Off, not '%s'", cmd->cmd->name, value);
    return NULL;
}

#define FLAG_SETTER(name, field) \
    static const char *name(cmd_parms *cmd, void *mconfig, const char *value) \
    { \
        int on = 0; \
        const char *err = parse_on_off(cmd, value, &on); \
        if (err) return err; \
        ((swiftwsgi_dir_config_t *)mconfig)->field = on; \
        return NULL; \
    }

FLAG_SETTER(set_script_reloading, script_reloading)
FLAG_SETTER(set_pass_authorization, pass_authorization)
FLAG_SETTER(set_chunked_request, chunked_request)
FLAG_SETTER(set_enable_sendfile, enable_sendfile)

static const char *set_map_head_to_get(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_dir_config_t *c = mconfig;
    if (!strcasecmp(value, "On")) c->map_head_to_get = SWIFTWSGI_HEAD_ON;
    else if (!strcasecmp(value, "Off")) c->map_head_to_get = SWIFTWSGI_HEAD_OFF;
    else if (!strcasecmp(value, "Auto")) c->map_head_to_get = SWIFTWSGI_HEAD_AUTO;
    else return apr_psprintf(cmd->pool, "%s must be On, Off or Auto, not '%s'", cmd->cmd->name, value);
    return NULL;
}

/* Process-wide directives: main server only. */
static const char *global_only(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, GLOBAL_ONLY);
}

/* The <WSGIInterpreterOptions> container the directive being read is in, or NULL. */
static interpreter_options_t *active_container(cmd_parms *cmd)
{
    const ap_directive_t *parent = cmd->directive ? cmd->directive->parent : NULL;
    if (parent && !strcasecmp(parent->directive, "<WSGIInterpreterOptions")) return parent->data;
    return NULL;
}

/* Server scope, or inside a <WSGIInterpreterOptions> container (which is itself server scope). */
static const char *global_or_container(cmd_parms *cmd)
{
    return active_container(cmd) ? NULL : global_only(cmd);
}

static const char *set_python_home(cmd_parms *cmd, void *mconfig, const char *value)
{
    char reason[512];
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err || (err = swiftwsgi_abi_refusal())) return err;
    if (swiftwsgi_check_python_home(value, reason, sizeof(reason)) != 0)
        return apr_psprintf(cmd->pool, "WSGIPythonHome: %s", reason);
    server_config(cmd->server)->python_home = value;
    return NULL;
}

static const char *set_python_path(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_server_config_t *c = server_config(cmd->server);
    interpreter_options_t *container = active_container(cmd);
    const char *err = global_or_container(cmd);
    (void)mconfig;
    if (err) return err;
    if (container) {
        char *copy = apr_pstrdup(cmd->pool, value), *state = NULL, *dir;
        for (dir = apr_strtok(copy, ":", &state); dir; dir = apr_strtok(NULL, ":", &state))
            *(const char **)apr_array_push(container->python_path) = dir;
        return NULL;
    }
    c->python_path = c->python_path ? apr_pstrcat(cmd->pool, c->python_path, ":", value, NULL) : value;
    return NULL;
}

static const char *parse_long(cmd_parms *cmd, const char *value, long min, long max, long *out)
{
    char *end;
    long v;
    if (!*value) return apr_psprintf(cmd->pool, "%s needs a number", cmd->cmd->name);
    errno = 0;
    v = strtol(value, &end, 10);
    if (*end || errno || v < min || v > max)
        return apr_psprintf(cmd->pool, "%s: '%s' is not a number from %ld to %ld", cmd->cmd->name, value, min, max);
    *out = v;
    return NULL;
}

static const char *set_python_optimize(cmd_parms *cmd, void *mconfig, const char *value)
{
    long v;
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err || (err = parse_long(cmd, value, 0, 2, &v))) return err;
    server_config(cmd->server)->python_optimize = (int)v;
    return NULL;
}

static const char *set_python_hash_seed(cmd_parms *cmd, void *mconfig, const char *value)
{
    long v;
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    if (!strcasecmp(value, "random")) {
        server_config(cmd->server)->python_hash_seed = -2;
        return NULL;
    }
    if ((err = parse_long(cmd, value, 0, 4294967295L, &v)))
        return apr_psprintf(cmd->pool, "%s (or 'random')", err);
    server_config(cmd->server)->python_hash_seed = v;
    return NULL;
}

static const char *set_python_warnings(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    *(const char **)apr_array_push(server_config(cmd->server)->python_warnings) = value;
    return NULL;
}

static const char *set_python_eggs(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    server_config(cmd->server)->python_eggs = value;
    return NULL;
}

#define GLOBAL_FLAG_SETTER(name, field) \
    static const char *name(cmd_parms *cmd, void *mconfig, const char *value) \
    { \
        int on = 0; \
        const char *err = global_only(cmd); \
        (void)mconfig; \
        if (err || (err = parse_on_off(cmd, value, &on))) return err; \
        server_config(cmd->server)->field = on; \
        return NULL; \
    }

GLOBAL_FLAG_SETTER(set_dont_write_bytecode, dont_write_bytecode)

/* WSGIRestrictStdin / WSGIRestrictStdout / WSGIRestrictSignal: server scope, or per interpreter
 * inside a <WSGIInterpreterOptions> container (mod_wsgi 6). */
static const char *set_restrict_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    int on = 0;
    interpreter_options_t *container = active_container(cmd);
    swiftwsgi_server_config_t *c = server_config(cmd->server);
    const char *which = cmd->info, *err = global_or_container(cmd);
    (void)mconfig;
    if (err || (err = parse_on_off(cmd, value, &on))) return err;
    if (!strcmp(which, "stdin")) *(container ? &container->options.restrict_stdin : &c->restrict_stdin) = on;
    else if (!strcmp(which, "stdout")) *(container ? &container->options.restrict_stdout : &c->restrict_stdout) = on;
    else *(container ? &container->options.restrict_signal : &c->restrict_signal) = on;
    return NULL;
}
GLOBAL_FLAG_SETTER(set_destroy_interpreter, destroy_interpreter)
/* Whether Apache's children need Python: -1 undecided (yes), 0 when WSGIRestrictEmbedded On
 * leaves them only proxying to daemons, 1 once a script that always runs in the children
 * (authentication, access, dispatch, an import into %{GLOBAL} of the children) is configured. */
static int python_required = -1;

void swiftwsgi_reset_python_required(void) { python_required = -1; }
int swiftwsgi_python_required(void) { return python_required != 0; }

static const char *set_restrict_embedded(cmd_parms *cmd, void *mconfig, const char *value)
{
    int on;
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err || (err = parse_on_off(cmd, value, &on))) return err;
    server_config(cmd->server)->restrict_embedded = on;
    if (on && python_required == -1) python_required = 0;
    return NULL;
}

/* Accepted for compatibility; mod_swiftwsgi always initialises Python in the child process. */
static const char *set_accepted_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    int on;
    const char *err = global_only(cmd);
    (void)mconfig;
    return err ? err : parse_on_off(cmd, value, &on);
}

static const char *set_import_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_import_t *imp;
    const char *path = ap_getword_conf(cmd->pool, &args);
    swiftwsgi_alias_t options;
    const char *err;
    (void)mconfig;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE))) return err;
    if (!*path) return "WSGIImportScript needs a script path";
    memset(&options, 0, sizeof(options));
    options.pass_authorization = UNSET;
    if ((err = parse_alias_options(cmd, &options, args))) return err;
    if (!options.application_group || !options.process_group)
        return "WSGIImportScript needs both process-group= and application-group= options";
    if (options.callable_object || options.pass_authorization != UNSET)
        return "WSGIImportScript takes only process-group= and application-group= options";

    if (options.application_group[0] == '%' && strcmp(options.application_group, "%{GLOBAL}") != 0)
        return "WSGIImportScript: application-group= must be %{GLOBAL} or a name (it is loaded before any request)";
    if (options.process_group[0] == '%' && strcmp(options.process_group, "%{GLOBAL}") != 0)
        return "WSGIImportScript: process-group= must be %{GLOBAL} or a name (it is loaded at process start)";
    if (!strcmp(options.process_group, "%{GLOBAL}") || !*options.process_group) python_required = 1;
    imp = apr_array_push(server_config(cmd->server)->import_scripts);
    imp->path = ap_server_root_relative(cmd->pool, path);
    imp->application_group = options.application_group;
    imp->process_group = options.process_group;
    return NULL;
}

/* WSGIAuthUserScript / WSGIAuthGroupScript / WSGIAccessScript path [application-group=name] */
static const char *set_auth_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_dir_config_t *c = mconfig;
    swiftwsgi_script_t *script = apr_pcalloc(cmd->pool, sizeof(*script));
    const char *path = ap_getword_conf(cmd->pool, &args);
    const char *which = cmd->info;
    swiftwsgi_alias_t options;
    const char *err;
    if (!*path) return apr_psprintf(cmd->pool, "%s needs a script path", cmd->cmd->name);
    memset(&options, 0, sizeof(options));
    options.pass_authorization = UNSET;
    if ((err = parse_alias_options(cmd, &options, args))) return err;
    if (options.callable_object || options.process_group || options.pass_authorization != UNSET)
        return apr_psprintf(cmd->pool, "%s takes only the application-group= option", cmd->cmd->name);
    script->path = ap_server_root_relative(cmd->pool, path);
    script->application_group = options.application_group ? options.application_group : "%{GLOBAL}";
    python_required = 1;  /* these scripts run in Apache's children */
    if (!strcmp(which, "user")) c->auth_user_script = script;
    else if (!strcmp(which, "group")) c->auth_group_script = script;
    else if (!strcmp(which, "dispatch")) c->dispatch_script = script;
    else c->access_script = script;
    return NULL;
}

/* WSGIHandlerScript name path [process-group=] [application-group=] [pass-authorization=] */
static const char *set_handler_script(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_dir_config_t *c = mconfig;
    swiftwsgi_handler_script_t *h;
    const char *name = ap_getword_conf(cmd->pool, &args);
    const char *path = ap_getword_conf(cmd->pool, &args);
    swiftwsgi_alias_t options;
    const char *err;
    if (!*name || !*path) return "WSGIHandlerScript needs a handler name and a script path";
    if (!strcmp(name, "wsgi-script") || !strcmp(name, "application/x-httpd-wsgi"))
        return apr_psprintf(cmd->pool, "WSGIHandlerScript: '%s' is the module's own handler name", name);
    memset(&options, 0, sizeof(options));
    options.pass_authorization = UNSET;
    if ((err = parse_alias_options(cmd, &options, args))) return err;
    if (options.callable_object)
        return "WSGIHandlerScript: the handler's callable is always handle_request()";
    if (!c->handler_scripts) c->handler_scripts = apr_array_make(cmd->pool, 2, sizeof(*h));
    h = apr_array_push(c->handler_scripts);
    h->name = name;
    h->path = ap_server_root_relative(cmd->pool, path);
    h->application_group = options.application_group;
    h->process_group = options.process_group;
    h->pass_authorization = options.pass_authorization;
    return NULL;
}

FLAG_SETTER(set_error_override, error_override)

static const char *set_restrict_process(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_dir_config_t *c = mconfig;
    if (!c->restrict_process) c->restrict_process = apr_array_make(cmd->pool, 2, sizeof(const char *));
    *(const char **)apr_array_push(c->restrict_process) = value;
    return NULL;
}

FLAG_SETTER(set_group_authoritative, group_authoritative)

/* The headers WSGITrustedProxyHeaders understands. */
static const char *const known_proxy_headers[] = {
    "X-Forwarded-For", "X-Client-IP", "X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-Scheme",
    "X-Forwarded-HTTPS", "X-Forwarded-SSL", "X-Forwarded-Host", "X-Forwarded-Server",
    "X-Forwarded-Port", "X-Script-Name", "X-Host", "X-Scheme", "X-HTTPS", "X-Forwarded-Script-Name", NULL
};

const char *const *swiftwsgi_known_proxy_headers(void) { return known_proxy_headers; }

static const char *set_trusted_proxy_header(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_dir_config_t *c = mconfig;
    int i;
    for (i = 0; known_proxy_headers[i]; i++) {
        if (!strcasecmp(value, known_proxy_headers[i])) break;
    }
    if (!known_proxy_headers[i]) {
        /* mod_wsgi accepts any name and ignores those it does not know. */
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, SWIFTWSGI_LOGNO(0960)
                     "WSGITrustedProxyHeaders: '%s' is not a proxy header mod_wsgi interprets; ignored", value);
        return NULL;
    }
    if (!c->trusted_proxy_headers) c->trusted_proxy_headers = apr_array_make(cmd->pool, 4, sizeof(const char *));
    *(const char **)apr_array_push(c->trusted_proxy_headers) = known_proxy_headers[i];
    return NULL;
}

static const char *set_trusted_proxy(cmd_parms *cmd, void *mconfig, const char *value)
{
    swiftwsgi_dir_config_t *c = mconfig;
    apr_ipsubnet_t *subnet;
    char *ip = apr_pstrdup(cmd->pool, value), *mask = strchr(ip, '/');
    apr_status_t rv;
    if (mask) *mask++ = '\0';
    rv = apr_ipsubnet_create(&subnet, ip, mask, cmd->pool);
    if (rv != APR_SUCCESS)
        return apr_psprintf(cmd->pool, "WSGITrustedProxies: '%s' is not an IP address or network", value);
    if (!c->trusted_proxies) c->trusted_proxies = apr_array_make(cmd->pool, 4, sizeof(apr_ipsubnet_t *));
    *(apr_ipsubnet_t **)apr_array_push(c->trusted_proxies) = subnet;
    return NULL;
}

static const char *set_socket_prefix(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    server_config(cmd->server)->socket_prefix = value;
    return NULL;
}

GLOBAL_FLAG_SETTER(set_verbose_debugging, verbose_debugging)
GLOBAL_FLAG_SETTER(set_socket_rotation, socket_rotation)
GLOBAL_FLAG_SETTER(set_server_metrics, server_metrics)
FLAG_SETTER(set_ignore_activity, ignore_activity)

/* The mechanisms mod_wsgi lists for WSGIAcceptMutex on this platform. */
static const char *const accept_mutexes[] = {
    "default",
#if APR_HAS_FLOCK_SERIALIZE
    "flock",
#endif
#if APR_HAS_FCNTL_SERIALIZE
    "fcntl",
#endif
#if APR_HAS_SYSVSEM_SERIALIZE
    "sysvsem",
#endif
#if APR_HAS_POSIXSEM_SERIALIZE
    "posixsem",
#endif
#if APR_HAS_PROC_PTHREAD_SERIALIZE
    "pthread",
#endif
    NULL
};

static const char *set_accept_mutex(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd), *valid = "";
    int i;
    (void)mconfig;
    if (err) return err;
    for (i = 0; accept_mutexes[i]; i++) {
        if (!strcasecmp(value, accept_mutexes[i])) {
            server_config(cmd->server)->accept_mutex = accept_mutexes[i];
            return NULL;
        }
        valid = apr_pstrcat(cmd->pool, valid, i ? ", " : "", accept_mutexes[i], NULL);
    }
    return apr_psprintf(cmd->pool, "WSGIAcceptMutex: '%s' is not a mechanism of this platform (%s)", value, valid);
}

/* A number of seconds: positive (or not negative when zero_ok). */
static const char *parse_seconds(cmd_parms *cmd, const char *value, int zero_ok, double *out)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(value, &end);
    if (end == value || *end || errno || v != v || v < 0 || (!zero_ok && v == 0))
        return apr_psprintf(cmd->pool, "%s: '%s' is not a %s number of seconds", cmd->cmd->name, value,
                            zero_ok ? "non-negative" : "positive");
    *out = v;
    return NULL;
}

static const char *set_switch_interval(cmd_parms *cmd, void *mconfig, const char *value)
{
    interpreter_options_t *container = active_container(cmd);
    const char *err = global_or_container(cmd);
    (void)mconfig;
    if (err) return err;
    return parse_seconds(cmd, value, 0, container ? &container->options.switch_interval
                                                  : &server_config(cmd->server)->switch_interval);
}

static const char *set_slow_requests(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err || (err = parse_seconds(cmd, value, 1, &server_config(cmd->server)->slow_requests))) return err;
    return NULL;
}

static const char *set_newrelic(cmd_parms *cmd, void *mconfig, const char *value)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    if (cmd->info) server_config(cmd->server)->newrelic_environment = value;
    else server_config(cmd->server)->newrelic_config_file = value;
    return NULL;
}

/* WSGIPerInterpreterGIL / WSGIFreeThreading (mod_wsgi 6), at server scope or in a
 * <WSGIInterpreterOptions> container. On is refused where the embedded Python cannot do it
 * (mod_wsgi 6 accepts it there with a warning and does less). */
static const char *set_gil_flag(cmd_parms *cmd, void *mconfig, const char *value)
{
    char reason[512];
    int on, gil = !strcmp(cmd->cmd->name, "WSGIPerInterpreterGIL");
    interpreter_options_t *container = active_container(cmd);
    const char *err = global_or_container(cmd);
    (void)mconfig;
    if (err || (err = parse_on_off(cmd, value, &on))) return err;
    if (!gil && container && container->options.application_group)
        return "WSGIFreeThreading cannot be set in a <WSGIInterpreterOptions> container with "
               "application-group=: free-threading is decided once per process (select the process "
               "with process-group= only)";
    if (on && (err = swiftwsgi_abi_refusal())) return err;
    if (on && (gil ? swiftwsgi_check_per_interpreter_gil(reason, sizeof(reason))
                   : swiftwsgi_check_free_threading(reason, sizeof(reason))) != 0)
        return apr_psprintf(cmd->pool, "%s On: %s", cmd->cmd->name, reason);
    if (on && gil && container && container->options.application_group && !*container->options.application_group)
        return "WSGIPerInterpreterGIL On cannot apply to application-group=%{GLOBAL}: the main interpreter "
               "always keeps the process's GIL";
    if (container) {
        if (gil) container->options.per_interpreter_gil = on;
        else container->options.free_threading = on;
    }
    else if (gil) server_config(cmd->server)->per_interpreter_gil = on;
    else server_config(cmd->server)->free_threading = on;
    return NULL;
}

/* WSGITelemetryService unix:/path [interval=N] (mod_wsgi 6.1): every process that runs Python
 * sends its telemetry datagrams to that socket. */
static const char *set_telemetry_service(cmd_parms *cmd, void *mconfig, const char *target, const char *interval)
{
    const char *err = global_only(cmd);
    (void)mconfig;
    if (err) return err;
    if (strncmp(target, "unix:", 5) || !target[5])
        return apr_psprintf(cmd->pool, "WSGITelemetryService: the target must be unix:/path, not '%s'", target);
    if (interval) {
        char *end;
        double v;
        if (strncmp(interval, "interval=", 9))
            return apr_psprintf(cmd->pool, "WSGITelemetryService: the second argument must be interval=N, not '%s'", interval);
        v = strtod(interval + 9, &end);
        if (end == interval + 9 || *end || !(v >= 0.5) || v == HUGE_VAL)
            return apr_psprintf(cmd->pool, "WSGITelemetryService: interval= must be at least 0.5 seconds, not '%s'", interval + 9);
        server_config(cmd->server)->telemetry_interval = v;
    }
    if (strlen(target + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return apr_psprintf(cmd->pool, "WSGITelemetryService: the socket path '%s' is longer than a unix socket's", target + 5);
    server_config(cmd->server)->telemetry_socket = target + 5;
    return NULL;
}

/* WSGITelemetryOptions [+|-]Flag ... | None | All (mod_wsgi 6's one flag: CaptureUserAgent).
 * +/- change the flags set so far; absolute names replace them. */
static const char *set_telemetry_options(cmd_parms *cmd, void *mconfig, const char *args)
{
    const char *err = global_only(cmd);
    int incremental = 0, absolute = 0, changed, replaced = 0;
    (void)mconfig;
    if (err) return err;
    changed = server_config(cmd->server)->telemetry_options;
    if (!*args) return "WSGITelemetryOptions needs at least one flag";
    while (*args) {
        const char *token = ap_getword_conf(cmd->temp_pool, &args), *name = token;
        if (!*token) break;
        if (*token == '+' || *token == '-') { incremental = 1; name++; }
        else absolute = 1;
        if (incremental && absolute)
            return "WSGITelemetryOptions: +/- flags and absolute names cannot be mixed in one directive";
        if ((!strcasecmp(name, "None") || !strcasecmp(name, "All")) && name != token)
            return apr_psprintf(cmd->pool, "WSGITelemetryOptions: '%s' takes no +/- prefix", name);
        if (strcasecmp(name, "None") && strcasecmp(name, "All") && strcasecmp(name, "CaptureUserAgent"))
            return apr_psprintf(cmd->pool, "WSGITelemetryOptions: unknown flag '%s' (CaptureUserAgent, None, All)", token);
        if (!strcasecmp(name, "None")) replaced = 0;
        else if (!strcasecmp(name, "All") || absolute) replaced |= SWIFTWSGI_TELEMETRY_CAPTURE_USER_AGENT;
        else if (*token == '-') changed &= ~SWIFTWSGI_TELEMETRY_CAPTURE_USER_AGENT;
        else changed |= SWIFTWSGI_TELEMETRY_CAPTURE_USER_AGENT;
    }
    server_config(cmd->server)->telemetry_options = incremental ? changed : replaced;
    return NULL;
}

/* What a <WSGIInterpreterOptions> container may hold (mod_wsgi 6's list). */
static const char *const container_directives[] = {
    "WSGIPerInterpreterGIL", "WSGIFreeThreading", "WSGISwitchInterval", "WSGIPythonPath",
    "WSGIRestrictStdin", "WSGIRestrictStdout", "WSGIRestrictSignal", NULL
};

/* A selector's value: %{GLOBAL} (or nothing) is "", another %{...} is refused. */
static const char *container_selector(cmd_parms *cmd, const char *key, const char *value, const char **out)
{
    if (*out)
        return apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: %s= given more than once", key);
    if (!*value || !strcmp(value, "%{GLOBAL}")) {
        *out = "";
        return NULL;
    }
    if (!strncmp(value, "%{", 2)) {
        if (!strcmp(key, "process-group"))
            return apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: process-group= selects processes by name: "
                                "%%{GLOBAL} (embedded mode) or a WSGIDaemonProcess name, not '%s'", value);
        return apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: application-group= is matched against the "
                            "expanded name of the interpreter's application group: use %%{GLOBAL} (the main "
                            "interpreter) or a name, not '%s'", value);
    }
    *out = value;
    return NULL;
}

/* <WSGIInterpreterOptions [process-group=NAME] [application-group=NAME]> ... (mod_wsgi 6). */
static const char *set_interpreter_options(cmd_parms *cmd, void *mconfig, const char *args)
{
    const char *end = ap_strrchr_c(args, '>'), *rest, *err;
    const ap_directive_t *child;
    interpreter_options_t *container;
    (void)mconfig;
    if ((err = global_only(cmd))) return err;
    if (!end) return "<WSGIInterpreterOptions> directive missing closing '>'";
    container = apr_pcalloc(cmd->pool, sizeof(*container));
    container->options.per_interpreter_gil = UNSET;
    container->options.free_threading = UNSET;
    container->options.restrict_stdin = UNSET;
    container->options.restrict_stdout = UNSET;
    container->options.restrict_signal = UNSET;
    container->python_path = apr_array_make(cmd->pool, 2, sizeof(const char *));
    rest = apr_pstrmemdup(cmd->temp_pool, args, (apr_size_t)(end - args));
    while (*rest) {
        const char *word = ap_getword_conf(cmd->temp_pool, &rest);
        const char *eq = strchr(word, '=');
        const char *key, *value;
        if (!*word) break;
        if (!eq || eq == word)
            return apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: '%s' is not process-group=NAME or "
                                "application-group=NAME", word);
        key = apr_pstrmemdup(cmd->temp_pool, word, (apr_size_t)(eq - word));
        value = apr_pstrdup(cmd->pool, eq + 1);
        if (!strcasecmp(key, "process-group"))
            err = container_selector(cmd, "process-group", value, &container->options.process_group);
        else if (!strcasecmp(key, "application-group"))
            err = container_selector(cmd, "application-group", value, &container->options.application_group);
        else
            err = apr_psprintf(cmd->pool, "<WSGIInterpreterOptions>: unknown selector '%s' (process-group= or "
                               "application-group=)", key);
        if (err) return err;
    }
    for (child = cmd->directive->first_child; child; child = child->next) {
        int i, allowed = 0;
        for (i = 0; container_directives[i]; i++)
            if (!strcasecmp(child->directive, container_directives[i])) allowed = 1;
        if (allowed) continue;
        return apr_psprintf(cmd->pool, "%s cannot occur within <WSGIInterpreterOptions> (it may hold "
                            "WSGIPerInterpreterGIL, WSGIFreeThreading, WSGISwitchInterval, WSGIPythonPath, "
                            "WSGIRestrictStdin, WSGIRestrictStdout and WSGIRestrictSignal)", child->directive);
    }
    *(interpreter_options_t **)apr_array_push(server_config(cmd->server)->interpreter_options) = container;
    cmd->directive->data = container;
    return ap_walk_config(cmd->directive->first_child, cmd, cmd->context);
}

static const char *set_pass_apache_request(cmd_parms *cmd, void *mconfig, const char *value)
{
    int on;
    const char *err = parse_on_off(cmd, value, &on);
    if (err) return err;
    if (on)
        return "WSGIPassApacheRequest On: mod_swiftwsgi does not provide apache.request_rec (a pointer "
               "to Apache's request_rec for C extensions); only Off is supported";
    ((swiftwsgi_dir_config_t *)mconfig)->pass_apache_request = 0;
    return NULL;
}

const command_rec swiftwsgi_directives[] = {
    AP_INIT_RAW_ARGS("WSGIScriptAlias", set_script_alias, NULL, RSRC_CONF,
                     "URL prefix, script file or directory, then options such as application-group="),
    AP_INIT_RAW_ARGS("WSGIScriptAliasMatch", set_script_alias, (void *)"match", RSRC_CONF,
                     "URL regular expression, script path (with $N), then options"),
    AP_INIT_TAKE1("WSGIApplicationGroup", set_dir_string, (void *)"application_group", RSRC_CONF | ACCESS_CONF,
                  "Interpreter: %{GLOBAL}, %{SERVER}, %{RESOURCE} (default), %{ENV:name} or a name"),
    AP_INIT_TAKE1("WSGICallableObject", set_dir_string, (void *)"callable_object", RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "Name of the WSGI application object in the script (default: application)"),
    AP_INIT_TAKE1("WSGIProcessGroup", set_dir_string, (void *)"process_group", RSRC_CONF | ACCESS_CONF,
                  "Process group: %{GLOBAL} (embedded, the default), %{ENV:variable} or a WSGIDaemonProcess name"),
    AP_INIT_TAKE1("WSGIScriptReloading", set_script_reloading, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "Reload a script when its modification time changes (default On)"),
    AP_INIT_TAKE1("WSGIPassAuthorization", set_pass_authorization, NULL, OR_FILEINFO,
                  "Pass the Authorization header as HTTP_AUTHORIZATION (default Off)"),
    AP_INIT_TAKE1("WSGIChunkedRequest", set_chunked_request, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "Accept chunked request bodies (default Off: 411)"),
    AP_INIT_TAKE1("WSGIMapHEADToGET", set_map_head_to_get, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "On, Off or Auto (default): present HEAD requests to the application as GET"),
    AP_INIT_TAKE1("WSGIEnableSendfile", set_enable_sendfile, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "Let wsgi.file_wrapper responses use sendfile (default Off)"),
    AP_INIT_TAKE1("WSGIPythonHome", set_python_home, NULL, RSRC_CONF,
                  "Python prefix or virtual environment (of the embedded Python version)"),
    AP_INIT_TAKE1("WSGIPythonPath", set_python_path, NULL, RSRC_CONF,
                  "Directories added with site.addsitedir(), ':'-separated"),
    AP_INIT_TAKE1("WSGIPythonOptimize", set_python_optimize, NULL, RSRC_CONF, "0, 1 or 2 (as python -O)"),
    AP_INIT_TAKE1("WSGIPythonHashSeed", set_python_hash_seed, NULL, RSRC_CONF,
                  "'random' or 0..4294967295 (as PYTHONHASHSEED)"),
    AP_INIT_ITERATE("WSGIPythonWarnings", set_python_warnings, NULL, RSRC_CONF, "Warning filters (as python -W)"),
    AP_INIT_TAKE1("WSGIDontWriteBytecode", set_dont_write_bytecode, NULL, RSRC_CONF, "Do not write .pyc files"),
    AP_INIT_TAKE1("WSGIPythonEggs", set_python_eggs, NULL, RSRC_CONF, "PYTHON_EGG_CACHE directory"),
    AP_INIT_TAKE1("WSGIRestrictStdin", set_restrict_flag, (void *)"stdin", RSRC_CONF, "Refuse any use of sys.stdin (default Off)"),
    AP_INIT_TAKE1("WSGIRestrictStdout", set_restrict_flag, (void *)"stdout", RSRC_CONF,
                  "Refuse writes to sys.stdout (default Off: they go to the error log)"),
    AP_INIT_TAKE1("WSGIRestrictSignal", set_restrict_flag, (void *)"signal", RSRC_CONF,
                  "Ignore signal.signal() registrations by applications (default On)"),
    AP_INIT_TAKE1("WSGIDestroyInterpreter", set_destroy_interpreter, NULL, RSRC_CONF,
                  "Finalise Python when a child exits (default On)"),
    AP_INIT_TAKE1("WSGIRestrictEmbedded", set_restrict_embedded, NULL, RSRC_CONF,
                  "Refuse to run applications in Apache's children (default Off)"),
    AP_INIT_TAKE1("WSGILazyInitialization", set_accepted_flag, NULL, RSRC_CONF,
                  "Accepted for compatibility: Python is initialised in each child that needs it"),
    AP_INIT_TAKE1("WSGICaseSensitivity", set_accepted_flag, NULL, RSRC_CONF,
                  "Accepted for compatibility: file names are case-sensitive on Linux"),
    AP_INIT_RAW_ARGS("WSGIImportScript", set_import_script, NULL, RSRC_CONF,
                     "Script to load at process start, with process-group= and application-group="),
    AP_INIT_RAW_ARGS("WSGIAuthUserScript", set_auth_script, (void *)"user", ACCESS_CONF | OR_AUTHCFG,
                     "Script providing check_password() / get_realm_hash() for AuthBasicProvider / AuthDigestProvider wsgi"),
    AP_INIT_RAW_ARGS("WSGIAuthGroupScript", set_auth_script, (void *)"group", ACCESS_CONF | OR_AUTHCFG,
                     "Script providing groups_for_user() for Require wsgi-group"),
    AP_INIT_RAW_ARGS("WSGIAccessScript", set_auth_script, (void *)"access", ACCESS_CONF | OR_AUTHCFG,
                     "Script providing allow_access() as a host access check"),
    AP_INIT_TAKE1("WSGIGroupAuthoritative", set_group_authoritative, NULL, ACCESS_CONF | OR_AUTHCFG,
                  "Deny when the user is in none of the required groups (default On; Off lets other providers decide)"),
    AP_INIT_RAW_ARGS("WSGIDispatchScript", set_auth_script, (void *)"dispatch", RSRC_CONF | ACCESS_CONF,
                     "Script choosing process_group(), application_group() and callable_object() per request"),
    AP_INIT_RAW_ARGS("WSGIHandlerScript", set_handler_script, NULL, RSRC_CONF | ACCESS_CONF,
                     "Handler name and script whose handle_request() serves requests for that handler"),
    AP_INIT_TAKE1("WSGIErrorOverride", set_error_override, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                  "Let Apache's ErrorDocument replace the body of an application's error response"),
    AP_INIT_ITERATE("WSGIRestrictProcess", set_restrict_process, NULL, ACCESS_CONF | RSRC_CONF,
                    "Daemon process groups the applications here may be delegated to"),
    AP_INIT_ITERATE("WSGITrustedProxyHeaders", set_trusted_proxy_header, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                    "Proxy headers (X-Forwarded-For, X-Forwarded-Proto, ...) to apply to environ"),
    AP_INIT_ITERATE("WSGITrustedProxies", set_trusted_proxy, NULL, RSRC_CONF | ACCESS_CONF | OR_FILEINFO,
                    "Addresses or networks of the proxies whose headers are trusted (default: any peer)"),
    AP_INIT_RAW_ARGS("WSGIDaemonProcess", swiftwsgi_set_daemon_process, NULL, RSRC_CONF,
                     "Process group name, then options such as processes=, threads=, user=, python-home="),
    AP_INIT_TAKE1("WSGISocketPrefix", set_socket_prefix, NULL, RSRC_CONF,
                  "Path prefix of the daemon processes' sockets (default: DefaultRuntimeDir/wsgi)"),
    AP_INIT_TAKE1("WSGISocketRotation", set_socket_rotation, NULL, RSRC_CONF,
                  "Accepted for compatibility: daemon sockets keep their path across graceful restarts"),
    AP_INIT_TAKE1("WSGIAcceptMutex", set_accept_mutex, NULL, RSRC_CONF,
                  "Accepted for compatibility: daemon processes accept without a mutex"),
    AP_INIT_TAKE1("WSGIVerboseDebugging", set_verbose_debugging, NULL, RSRC_CONF,
                  "Accepted for compatibility (no effect, as in mod_wsgi 6): use LogLevel wsgi:debug"),
    AP_INIT_TAKE1("WSGISwitchInterval", set_switch_interval, NULL, RSRC_CONF,
                  "Seconds between GIL switches (sys.setswitchinterval), default Python's 0.005"),
    AP_INIT_TAKE1("WSGIServerMetrics", set_server_metrics, NULL, RSRC_CONF,
                  "Let mod_wsgi.server_metrics() and process_metrics() report (default Off)"),
    AP_INIT_TAKE1("WSGIIgnoreActivity", set_ignore_activity, NULL, OR_FILEINFO,
                  "Requests here do not reset a daemon's inactivity-timeout (default Off)"),
    AP_INIT_TAKE1("WSGISlowRequests", set_slow_requests, NULL, RSRC_CONF,
                  "Seconds after which a running request is reported to the WSGITelemetryService as slow"),
    AP_INIT_TAKE1("WSGINewRelicConfigFile", set_newrelic, NULL, RSRC_CONF,
                  "NEW_RELIC_CONFIG_FILE of the processes"),
    AP_INIT_TAKE1("WSGINewRelicEnvironment", set_newrelic, (void *)"environment", RSRC_CONF,
                  "NEW_RELIC_ENVIRONMENT of the processes"),
    AP_INIT_TAKE1("WSGIPerInterpreterGIL", set_gil_flag, NULL, RSRC_CONF,
                  "Sub-interpreters get their own GIL (Python 3.12+; default Off)"),
    AP_INIT_TAKE1("WSGIFreeThreading", set_gil_flag, NULL, RSRC_CONF,
                  "Run with the GIL disabled (a free-threaded Python build only; default Off)"),
    AP_INIT_TAKE12("WSGITelemetryService", set_telemetry_service, NULL, RSRC_CONF,
                   "unix:/path [interval=N]: the ingester every Python process sends its telemetry to"),
    AP_INIT_RAW_ARGS("WSGITelemetryOptions", set_telemetry_options, NULL, RSRC_CONF,
                     "Accepted for compatibility: [+|-]CaptureUserAgent, None, All"),
    AP_INIT_RAW_ARGS("<WSGIInterpreterOptions", set_interpreter_options, NULL, RSRC_CONF,
                     "Settings for the interpreters selected by process-group= and application-group="),
    AP_INIT_TAKE1("WSGIPassApacheRequest", set_pass_apache_request, NULL, RSRC_CONF | ACCESS_CONF,
                  "Off only: apache.request_rec is not provided"),
    { NULL }
};
