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
#include "swiftwsgi_status.h"

static void swiftwsgi_register_hooks(apr_pool_t *p)
{
    /* mod_wsgi's ordering: WSGIScriptAlias is tried after mod_alias (so an Alias such as
     * Django's /static/ wins over WSGIScriptAlias /, whatever the order of the directives)
     * and before mod_userdir and mod_vhost_alias. */
    static const char *const after_alias[] = { "mod_alias.c", NULL };
    static const char *const before_userdir[] = { "mod_userdir.c", "mod_vhost_alias.c", NULL };
    (void)p;
    /* <IfModule mod_wsgi.c> in existing configurations must see this module. */
    wsgi_module.name = "mod_wsgi.c";
    ap_hook_pre_config(swiftwsgi_hook_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(swiftwsgi_hook_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(swiftwsgi_hook_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(swiftwsgi_hook_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_translate_name(swiftwsgi_hook_translate_name, after_alias, before_userdir, APR_HOOK_MIDDLE);
    ap_hook_handler(swiftwsgi_hook_handler, NULL, NULL, APR_HOOK_MIDDLE);
    swiftwsgi_auth_register(p);
    swiftwsgi_status_register(p);
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
