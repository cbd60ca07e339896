/**
 * swiftwsgi_process.h — process lifecycle: configuration checks after each configuration
 * pass, Python start-up in each child, and its teardown when the child exits.
 */
#ifndef SWIFTWSGI_PROCESS_H
#define SWIFTWSGI_PROCESS_H

#include "httpd.h"

#include "swiftwsgi_abi.h"

int swiftwsgi_hook_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp);
int swiftwsgi_hook_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
int swiftwsgi_hook_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
void swiftwsgi_hook_child_init(apr_pool_t *pchild, server_rec *s);

/** The directories of a ':'-separated list (WSGIPythonPath, python-path=), empty ones left out;
 *  NULL with *count 0 for NULL. */
const char *const *swiftwsgi_path_list(apr_pool_t *p, const char *joined, size_t *count);

/** Fills config from the server-config directives (for Apache's children and daemons). */
void swiftwsgi_fill_process_config(swiftwsgi_process_config_t *config, server_rec *s, apr_pool_t *p);

/** Sets NEW_RELIC_CONFIG_FILE / NEW_RELIC_ENVIRONMENT of this process (NULL: left alone). */
void swiftwsgi_set_newrelic_environment(const char *config_file, const char *environment);

#endif
