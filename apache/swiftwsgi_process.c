/*
 * swiftwsgi_process.c — post_config (version component, ABI check) and child_init (Python is
 * initialised here, after fork, once per child; torn down by a cleanup of the child pool).
 * No threads are started in the Apache parent.
 */
#include "swiftwsgi_process.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_abi.h"

#include "http_log.h"
#include "ap_mpm.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

int swiftwsgi_hook_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)plog; (void)ptemp;
    if (swiftwsgi_abi_version() != SWIFTWSGI_ABI_VERSION) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10910)
                     "mod_swiftwsgi: the Swift host library speaks ABI %d, this module %d: "
                     "install both from the same build", swiftwsgi_abi_version(), SWIFTWSGI_ABI_VERSION);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_add_version_component(pconf, apr_pstrcat(pconf, "mod_swiftwsgi/", swiftwsgi_version(), NULL));
    ap_add_version_component(pconf, apr_pstrcat(pconf, "Python/", swiftwsgi_python_version(), NULL));
    return OK;
}

static apr_status_t child_exit(void *data)
{
    (void)data;
    swiftwsgi_child_exit();
    return APR_SUCCESS;
}

void swiftwsgi_hook_child_init(apr_pool_t *pchild, server_rec *s)
{
    swiftwsgi_process_config_t config;
    const apr_array_header_t *warnings = swiftwsgi_python_warnings(s);
    const apr_array_header_t *imports = swiftwsgi_import_scripts(s);
    swiftwsgi_import_script_t *scripts;
    int threaded = 0, threads = 1, daemons = 1, i;
    apr_size_t n = 0;

    ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded);
    if (threaded != AP_MPMQ_NOT_SUPPORTED) ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);

    scripts = apr_pcalloc(pchild, sizeof(*scripts) * (imports->nelts + 1));
    for (i = 0; i < imports->nelts; i++) {
        const swiftwsgi_import_t *imp = &((const swiftwsgi_import_t *)imports->elts)[i];
        scripts[n].path = imp->path;
        scripts[n].application_group = strcmp(imp->application_group, "%{GLOBAL}") ? imp->application_group : "";
        n++;
    }

    memset(&config, 0, sizeof(config));
    config.python_home = swiftwsgi_python_home(s);
    config.python_path = swiftwsgi_python_path(s);
    config.python_optimize = swiftwsgi_python_optimize(s);
    config.python_hash_seed = swiftwsgi_python_hash_seed(s);
    config.python_warnings = (const char *const *)warnings->elts;
    config.python_warnings_count = (size_t)warnings->nelts;
    config.dont_write_bytecode = swiftwsgi_dont_write_bytecode(s);
    config.python_eggs = swiftwsgi_python_eggs(s);
    config.restrict_stdin = swiftwsgi_restrict_stdin(s);
    config.restrict_stdout = swiftwsgi_restrict_stdout(s);
    config.restrict_signal = swiftwsgi_restrict_signal(s);
    config.destroy_interpreter = swiftwsgi_destroy_interpreter(s);
    config.apache_version = ap_get_server_description() ? AP_SERVER_BASEREVISION : "2.4";
    config.mpm_name = ap_show_mpm();
    config.threads_per_process = threads > 0 ? threads : 1;
    config.maximum_processes = daemons > 0 ? daemons : 1;
    config.import_scripts = scripts;
    config.import_scripts_count = n;

    swiftwsgi_io_set_server(s);
    swiftwsgi_register_ops(swiftwsgi_io_ops());
    if (swiftwsgi_child_init(&config) != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10911)
                     "mod_swiftwsgi: Python could not be initialised in this child; "
                     "WSGI requests will answer 500 (the reason is logged above)");
        return;
    }
    apr_pool_cleanup_register(pchild, NULL, child_exit, apr_pool_cleanup_null);
}
