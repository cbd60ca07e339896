/**
 * swiftwsgi_status.h — mod_swiftwsgi's section of mod_status's report.
 */
#ifndef SWIFTWSGI_STATUS_H
#define SWIFTWSGI_STATUS_H

#include "apr_pools.h"

/** Registers the mod_status hook (register_hooks). */
void swiftwsgi_status_register(apr_pool_t *p);

#endif
