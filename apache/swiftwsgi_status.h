/**
 * swiftwsgi_status.h — mod_swiftwsgi's section of mod_status's report, and the counters of
 * Apache's children behind it (in memory the parent maps before it forks, see swiftwsgi_status_layout.h).
 */
#ifndef SWIFTWSGI_STATUS_H
#define SWIFTWSGI_STATUS_H

#include "httpd.h"
#include "swiftwsgi_abi.h"

/** Registers the mod_status hook (register_hooks). */
void swiftwsgi_status_register(apr_pool_t *p);

/** Maps the children's counters when mod_status is loaded (post_config, before anything is
 *  forked; unmapped with pconf). Without mod_status nothing is mapped and nothing is counted. */
void swiftwsgi_status_map(apr_pool_t *pconf, server_rec *s);

/** In an Apache child at its start: takes a row of the counters and gives the host the shared
 *  group names and that row (config->status_names, config->status_row; NULL without them). */
void swiftwsgi_status_child_init(apr_pool_t *pchild, swiftwsgi_process_config_t *config);

/** The queue cells for daemon processes (*count of them), or NULL. */
uint64_t *swiftwsgi_status_queue_cells(uint32_t *count);

/** Before a request goes to daemon group index `group`: marks a free queue cell of this child,
 *  the thread's own as a rule (*cell -1 and *mark 0 when nothing is counted). One load and one
 *  compare-and-swap. */
void swiftwsgi_queue_begin(int group, int32_t *cell, uint64_t *mark);

/** After it: clears the cell if no daemon took the request (it failed before). */
void swiftwsgi_queue_end(int32_t cell, uint64_t mark);

#endif
