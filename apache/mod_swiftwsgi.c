/*
 * mod_swiftwsgi.c — the module record: wires the directive table, configuration records and
 * hooks. Everything else lives in swiftwsgi_*.c and in the Swift host library.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

#include "swiftwsgi_auth.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_handler.h"
#include "swiftwsgi_process.h"

static void swiftwsgi_register_hooks(apr_pool_t *p)
{
    static const char *const run_before[] = { "mod_alias.c", "mod_userdir.c", NULL };
    (void)p;
    /* <IfModule mod_wsgi.c> in existing configurations must see this module. */
    wsgi_module.name = "mod_wsgi.c";
    ap_hook_pre_config(swiftwsgi_hook_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(swiftwsgi_hook_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(swiftwsgi_hook_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before mod_alias, as mod_wsgi does, so WSGIScriptAlias wins over a broader Alias. */
    ap_hook_translate_name(swiftwsgi_hook_translate_name, NULL, run_before, APR_HOOK_MIDDLE);
    ap_hook_handler(swiftwsgi_hook_handler, NULL, NULL, APR_HOOK_MIDDLE);
    swiftwsgi_auth_register(p);
}

/* Named wsgi_module so configurations written for mod_wsgi (LoadModule wsgi_module ...,
 * <IfModule mod_wsgi.c>) keep working. */
AP_DECLARE_MODULE(wsgi) = {
    STANDARD20_MODULE_STUFF,
    swiftwsgi_create_dir_config,
    swiftwsgi_merge_dir_config,
    swiftwsgi_create_server_config,
    swiftwsgi_merge_server_config,
    swiftwsgi_directives,
    swiftwsgi_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_ALWAYS_MERGE
#endif
};
