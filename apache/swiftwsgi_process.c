/*
 * swiftwsgi_process.c — pre_config (the ABI handshake), post_config (version component) and child_init (Python is
 * initialised here, after fork, once per child; torn down by a cleanup of the child pool).
 * No threads are started in the Apache parent.
 */
#include "swiftwsgi_process.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_abi.h"
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_status.h"
#include "swiftwsgi_handshake.h"

#include "http_log.h"
#include "ap_mpm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

int swiftwsgi_hook_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog; (void)ptemp;
    if (swiftwsgi_abi_refusal()) return HTTP_INTERNAL_SERVER_ERROR;
    ap_add_version_component(pconf, apr_pstrcat(pconf, "mod_swiftwsgi/", swiftwsgi_version(), NULL));
    ap_add_version_component(pconf, apr_pstrcat(pconf, "Python/", swiftwsgi_python_version(), NULL));

    /* The first pass at start-up is a dry run: fork daemons only from the second on. */
    {
        void *seen = NULL;
        const char *key = "swiftwsgi_post_config";
        apr_pool_userdata_get(&seen, key, s->process->pool);
        if (!seen) {
            apr_pool_userdata_set((const void *)1, key, apr_pool_cleanup_null, s->process->pool);
            return OK;
        }
    }
    /* Daemon processes forked from here read the scoreboard through the shim's operations. */
    swiftwsgi_io_set_server(s);
    swiftwsgi_register_ops(swiftwsgi_io_ops());
    /* Before any fork: Apache's children and the daemons share mod_status's counters. */
    swiftwsgi_status_map(pconf, s);
    return swiftwsgi_daemon_start(pconf, s);
}

/* Checks what needs the whole configuration (configtest runs this hook): a container's
 * process-group= must name a daemon group, and the host checks how the containers combine. */
int swiftwsgi_hook_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    swiftwsgi_process_config_t config;
    int groups = swiftwsgi_daemon_group_count(), i;
    const char **names = apr_pcalloc(ptemp, sizeof(*names) * (groups + 1));
    char reason[512];
    size_t j;
    (void)pconf; (void)plog;
    if (swiftwsgi_abi_refusal()) return HTTP_INTERNAL_SERVER_ERROR;
    for (i = 0; i < groups; i++) {
        const swiftwsgi_daemon_status_t *status;
        int processes, threads;
        names[i] = swiftwsgi_daemon_group_info(i, &processes, &threads, &status);
    }
    swiftwsgi_fill_process_config(&config, s, ptemp);
    for (j = 0; j < config.interpreter_options_count; j++) {
        const char *group = config.interpreter_options[j].process_group;
        if (group && *group && !swiftwsgi_daemon_group(group)) {
            ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s, SWIFTWSGI_LOGNO(0965)
                         "<WSGIInterpreterOptions process-group=%s>: no WSGIDaemonProcess is called '%s' "
                         "(use %%{GLOBAL} for embedded mode)", group, group);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    if (swiftwsgi_check_interpreter_options(&config, names, (size_t)groups, reason, sizeof(reason)) != 0) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s, SWIFTWSGI_LOGNO(0966) "%s", reason);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static apr_status_t child_exit(void *data)
{
    (void)data;
    swiftwsgi_child_exit();
    return APR_SUCCESS;
}

const char *const *swiftwsgi_path_list(apr_pool_t *p, const char *joined, size_t *count)
{
    apr_array_header_t *list = apr_array_make(p, 4, sizeof(const char *));
    char *copy, *dir, *state;
    *count = 0;
    if (!joined) return NULL;
    copy = apr_pstrdup(p, joined);
    for (dir = apr_strtok(copy, ":", &state); dir; dir = apr_strtok(NULL, ":", &state))
        *(const char **)apr_array_push(list) = dir;
    *count = (size_t)list->nelts;
    return (const char *const *)list->elts;
}

void swiftwsgi_fill_process_config(swiftwsgi_process_config_t *config, server_rec *s, apr_pool_t *p)
{
    const apr_array_header_t *warnings = swiftwsgi_python_warnings(s);
    const apr_array_header_t *imports = swiftwsgi_import_scripts(s);
    swiftwsgi_import_script_t *scripts;
    int threaded = 0, threads = 1, daemons = 1, i;
    apr_size_t n = 0;

    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    if (threaded != AP_MPMQ_NOT_SUPPORTED) ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);

    /* Embedded children import the scripts of process-group %{GLOBAL}. */
    scripts = apr_pcalloc(p, sizeof(*scripts) * (imports->nelts + 1));
    for (i = 0; i < imports->nelts; i++) {
        const swiftwsgi_import_t *imp = &((const swiftwsgi_import_t *)imports->elts)[i];
        if (strcmp(imp->process_group, "%{GLOBAL}")) continue;
        scripts[n].path = imp->path;
        scripts[n].application_group = imp->application_group;
        n++;
    }

    memset(config, 0, sizeof(*config));
    config->python_home = swiftwsgi_python_home(s);
    config->python_path = swiftwsgi_path_list(p, swiftwsgi_python_path(s), &config->python_path_count);
    config->python_optimize = swiftwsgi_python_optimize(s);
    config->python_hash_seed = swiftwsgi_python_hash_seed(s);
    config->python_warnings = (const char *const *)warnings->elts;
    config->python_warnings_count = (size_t)warnings->nelts;
    config->dont_write_bytecode = swiftwsgi_dont_write_bytecode(s);
    config->python_eggs = swiftwsgi_python_eggs(s);
    config->restrict_stdin = swiftwsgi_restrict_stdin(s);
    config->restrict_stdout = swiftwsgi_restrict_stdout(s);
    config->restrict_signal = swiftwsgi_restrict_signal(s);
    config->destroy_interpreter = swiftwsgi_destroy_interpreter(s);
    config->apache_version = AP_SERVER_BASEREVISION;
    config->mpm_name = ap_show_mpm();
    config->threads_per_process = threads > 0 ? threads : 1;
    config->maximum_processes = daemons > 0 ? daemons : 1;
    config->import_scripts = scripts;
    config->import_scripts_count = n;
    config->process_group = "";
    config->switch_interval = swiftwsgi_switch_interval(s);
    config->server_metrics = swiftwsgi_server_metrics(s);
    config->per_interpreter_gil = swiftwsgi_per_interpreter_gil(s);
    config->free_threading = swiftwsgi_free_threading(s);
    config->interpreter_options = swiftwsgi_interpreter_options(s, p, &config->interpreter_options_count);
    config->apache_description = ap_get_server_description();
    config->apache_build_date = ap_get_server_built();
    config->apache_threads_per_process = config->threads_per_process;
    config->apache_maximum_processes = config->maximum_processes;
    config->telemetry_socket = swiftwsgi_telemetry_socket(s);
    config->telemetry_interval = swiftwsgi_telemetry_interval(s);
    config->slow_requests = swiftwsgi_slow_requests(s);
    config->telemetry_options = swiftwsgi_telemetry_options(s);
}

void swiftwsgi_set_newrelic_environment(const char *config_file, const char *environment)
{
    /* mod_wsgi 5's WSGINewRelicConfigFile / WSGINewRelicEnvironment: the agent reads these. */
    if (config_file) setenv("NEW_RELIC_CONFIG_FILE", config_file, 1);
    if (environment) setenv("NEW_RELIC_ENVIRONMENT", environment, 1);
}

int swiftwsgi_hook_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    /* The first call across the ABI at every configuration load: nothing crosses before it. */
    if (swiftwsgi_handshake()) return HTTP_INTERNAL_SERVER_ERROR;
    swiftwsgi_daemon_reset();
    swiftwsgi_reset_python_required();
    return OK;
}

void swiftwsgi_hook_child_init(apr_pool_t *pchild, server_rec *s)
{
    swiftwsgi_process_config_t config;

    if (swiftwsgi_abi_refusal()) return;
    swiftwsgi_daemon_close_listeners(NULL);
    swiftwsgi_fill_process_config(&config, s, pchild);
    /* No telemetry from children that serve no WSGI request (as mod_wsgi). */
    if (swiftwsgi_restrict_embedded(s) == 1) config.telemetry_socket = NULL;
    swiftwsgi_status_child_init(pchild, &config);
    swiftwsgi_io_set_server(s);
    swiftwsgi_register_ops(swiftwsgi_io_ops());
    /* A child that only proxies to daemon processes needs no Python (less memory, faster
     * start); as with mod_wsgi, that is WSGIRestrictEmbedded On without scripts run here. */
    if (!swiftwsgi_python_required()) return;
    swiftwsgi_set_newrelic_environment(swiftwsgi_newrelic_config_file(s), swiftwsgi_newrelic_environment(s));
    if (swiftwsgi_child_init(&config) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SWIFTWSGI_LOGNO(0911)
                     "mod_swiftwsgi: Python could not be initialised in this child; "
                     "WSGI requests will answer 500 (the reason is logged above)");
        return;
    }
    apr_pool_cleanup_register(pchild, NULL, child_exit, apr_pool_cleanup_null);
}
