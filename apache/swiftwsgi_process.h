/**
 * swiftwsgi_process.h — process lifecycle: configuration checks after each configuration
 * pass, Python start-up in each child, and its teardown when the child exits.
 */
#ifndef SWIFTWSGI_PROCESS_H
#define SWIFTWSGI_PROCESS_H

#include "httpd.h"

int swiftwsgi_hook_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s);
void swiftwsgi_hook_child_init(apr_pool_t *pchild, server_rec *s);

#endif
