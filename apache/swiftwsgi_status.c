/*
 * swiftwsgi_status.c — mod_swiftwsgi's section of mod_status's page (/server-status, and its
 * ?auto form), and the counters of Apache's children behind it.
 *
 * Per daemon process group: its processes, their threads busy and idle, the requests served,
 * the requests waiting for one of its threads (how many, and how long the oldest has waited),
 * how long the latest request waited, and the restarts with the latest one's reason. The
 * daemons' counters live in memory the Apache parent shares with them (swiftwsgi_daemon.c).
 * Then the embedded interpreters of every Apache child, summed per application group: the
 * requests served and running.
 *
 * The children's counters (swiftwsgi_status_layout.h) are mapped here at each configuration load, only
 * when mod_status is loaded: one row per child slot (ServerLimit), and queue cells for each
 * child's requests to daemons. A child takes a free row at its start; the Swift host adds to its
 * interpreters' entries in it, and this file marks a free cell of the child's while a request
 * waits for a daemon thread (the daemon clears it as it takes the request). One atomic per
 * event; no locks. Without mod_status nothing is mapped or counted.
 */
#include "swiftwsgi_status.h"
#include "swiftwsgi_daemon.h"

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "mod_status.h"
#include "apr_strings.h"
#include "apr_optional_hooks.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* ---- the children's counters ------------------------------------------------------------------ */

/* Set in the parent at post_config, inherited by every process forked after it. */
static void *counters_memory;
static size_t counters_size;
static swiftwsgi_status_name_t *status_names;
static swiftwsgi_child_counters_t *status_rows;
static uint64_t *queue_cells;
static int status_row_count;   /* ServerLimit */
static int cells_per_row;      /* queue cells per child */

/* In a child: its row, and the next thread's first choice among the row's cells. */
static swiftwsgi_child_counters_t *my_row;
static int my_row_index;
static int next_cell;
/* Where this thread looks for a free cell first (-1: not chosen yet): its own cell while the
 * row has one per thread; threads that come and go (mod_http2's workers) share them. */
static __thread int my_cell = -1;

static apr_status_t unmap_counters(void *data)
{
    (void)data;
    if (counters_memory) munmap(counters_memory, counters_size);
    counters_memory = NULL;
    status_names = NULL;
    status_rows = NULL;
    queue_cells = NULL;
    return APR_SUCCESS;
}

void swiftwsgi_status_map(apr_pool_t *pconf, server_rec *s)
{
    int server_limit = 0, thread_limit = 0;
    size_t names_size, rows_size;
    (void)s;
    if (!ap_find_linked_module("mod_status.c")) return;
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &server_limit);
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_THREADS, &thread_limit);
    status_row_count = server_limit > 0 ? server_limit : 1;
    /* The MPM's threads, and as many again plus some for mod_http2's workers, which run
     * requests on threads of their own; a thread beyond them is not counted in queues. */
    cells_per_row = 2 * (thread_limit > 0 ? thread_limit : 1) + 16;
    names_size = sizeof(swiftwsgi_status_name_t) * SWIFTWSGI_STATUS_GROUPS;
    rows_size = sizeof(swiftwsgi_child_counters_t) * (size_t)status_row_count;
    counters_size = names_size + rows_size + sizeof(uint64_t) * (size_t)status_row_count * (size_t)cells_per_row;
    counters_memory = mmap(NULL, counters_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (counters_memory == MAP_FAILED) {
        counters_memory = NULL;  /* nothing counted: the section says so, requests are unaffected */
        return;
    }
    status_names = counters_memory;
    status_rows = (swiftwsgi_child_counters_t *)((char *)counters_memory + names_size);
    queue_cells = (uint64_t *)((char *)counters_memory + names_size + rows_size);
    apr_pool_cleanup_register(pconf, NULL, unmap_counters, apr_pool_cleanup_null);
}

/* Whether pid (a row's owner) still runs. */
static int alive(int32_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static apr_status_t release_row(void *data)
{
    int i;
    (void)data;
    if (!my_row || !queue_cells) return APR_SUCCESS;
    for (i = 0; i < cells_per_row; i++) __atomic_store_n(&queue_cells[my_row_index * cells_per_row + i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&my_row->pid, 0, __ATOMIC_RELEASE);
    my_row = NULL;
    return APR_SUCCESS;
}

void swiftwsgi_status_child_init(apr_pool_t *pchild, swiftwsgi_process_config_t *config)
{
    int32_t me = (int32_t)getpid();
    int i, g;
    config->status_names = NULL;
    config->status_row = NULL;
    if (!status_rows) return;
    for (i = 0; i < status_row_count && !my_row; i++) {
        swiftwsgi_child_counters_t *row = &status_rows[i];
        int32_t owner = __atomic_load_n(&row->pid, __ATOMIC_ACQUIRE);
        if (owner != 0 && alive(owner)) continue;
        if (!__atomic_compare_exchange_n(&row->pid, &owner, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) continue;
        /* The requests of the row's earlier children stay served; what one that died was
         * running or queueing is gone with it. */
        for (g = 0; g <= SWIFTWSGI_STATUS_GROUPS; g++)
            __atomic_store_n(&row->groups[g].begun, __atomic_load_n(&row->groups[g].ended, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
        for (g = 0; g < cells_per_row; g++) __atomic_store_n(&queue_cells[i * cells_per_row + g], 0, __ATOMIC_RELAXED);
        my_row = row;
        my_row_index = i;
    }
    if (!my_row) return;  /* every row taken (it cannot happen within ServerLimit): not counted */
    apr_pool_cleanup_register(pchild, NULL, release_row, apr_pool_cleanup_null);
    config->status_names = status_names;
    config->status_row = my_row;
}

uint64_t *swiftwsgi_status_queue_cells(uint32_t *count)
{
    *count = queue_cells ? (uint32_t)(status_row_count * cells_per_row) : 0;
    return queue_cells;
}

static uint64_t monotonic_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void swiftwsgi_queue_begin(int group, int32_t *cell, uint64_t *mark)
{
    int first = my_cell, k;
    uint64_t m;
    *cell = -1;
    *mark = 0;
    if (!my_row) return;
    if (first < 0) first = my_cell = __atomic_fetch_add(&next_cell, 1, __ATOMIC_RELAXED) % cells_per_row;
    m = swiftwsgi_queue_mark(group, monotonic_usec());
    /* A free cell of the row, the thread's own first: one load and one compare-and-swap. */
    for (k = 0; k < cells_per_row; k++) {
        int c = my_row_index * cells_per_row + (first + k) % cells_per_row;
        uint64_t free_cell = 0;
        if (__atomic_load_n(&queue_cells[c], __ATOMIC_RELAXED) == 0
            && __atomic_compare_exchange_n(&queue_cells[c], &free_cell, m, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *cell = c;
            *mark = m;
            return;
        }
    }
    /* More of this child's requests wait than it has cells: this one is not counted. */
}

void swiftwsgi_queue_end(int32_t cell, uint64_t mark)
{
    if (cell < 0 || !mark || !queue_cells) return;
    /* Usually the daemon cleared it already: then this is a load. */
    if (__atomic_load_n(&queue_cells[cell], __ATOMIC_RELAXED) == mark)
        __atomic_compare_exchange_n(&queue_cells[cell], &mark, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/* ---- the report ---------------------------------------------------------------------------- */

/* A group's name as a ?auto key fragment: parsers split "Key: value" at the first ':'. */
static const char *key_name(apr_pool_t *p, const char *name)
{
    char *k = apr_pstrdup(p, name), *c;
    for (c = k; *c; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_') *c = '_';
    return k;
}

typedef struct {
    int running, threads, busy, restarts;
    apr_uint64_t requests;
    apr_int64_t queue_wait;           /* the largest of the processes' latest waits, us */
    const char *last_restart;
    apr_int64_t last_restart_time;
} group_totals_t;

static void totals(const swiftwsgi_daemon_status_t *st, int processes, group_totals_t *t)
{
    int j;
    memset(t, 0, sizeof(*t));
    t->last_restart = "";
    for (j = 0; st && j < processes; j++) {
        const swiftwsgi_daemon_status_t *p = &st[j];
        if (__atomic_load_n(&p->pid, __ATOMIC_RELAXED) > 0) t->running++;
        t->threads += __atomic_load_n(&p->threads, __ATOMIC_RELAXED);
        t->busy += __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
        t->restarts += __atomic_load_n(&p->restarts, __ATOMIC_RELAXED);
        t->requests += __atomic_load_n(&p->requests, __ATOMIC_RELAXED) + p->earlier_requests;
        if (p->queue_wait > t->queue_wait) t->queue_wait = __atomic_load_n(&p->queue_wait, __ATOMIC_RELAXED);
        if (p->last_restart_time > t->last_restart_time) {
            t->last_restart_time = p->last_restart_time;
            t->last_restart = p->last_restart;
        }
    }
}

/* The embedded interpreters of every child, summed per group name. */
typedef struct {
    int children;                       /* running children with a row */
    int count;                          /* distinct names */
    const char *names[SWIFTWSGI_STATUS_GROUPS];
    apr_uint64_t requests[SWIFTWSGI_STATUS_GROUPS + 1]; /* by distinct name, then other groups */
    apr_uint64_t active[SWIFTWSGI_STATUS_GROUPS + 1];
} interpreter_totals_t;

static void interpreter_totals(interpreter_totals_t *t, const int *live)
{
    int slot[SWIFTWSGI_STATUS_GROUPS + 1], i, g;
    memset(t, 0, sizeof(*t));
    /* Two children may have named the same group at once: one line per name. */
    for (g = 0; g < SWIFTWSGI_STATUS_GROUPS; g++) {
        const char *name = status_names[g].name;
        slot[g] = -1;
        if (__atomic_load_n(&status_names[g].state, __ATOMIC_ACQUIRE) != 2) continue;
        for (i = 0; i < t->count && strcmp(t->names[i], name); i++) {}
        if (i == t->count) t->names[t->count++] = name;
        slot[g] = i;
    }
    slot[SWIFTWSGI_STATUS_GROUPS] = SWIFTWSGI_STATUS_GROUPS;
    for (i = 0; i < status_row_count; i++) {
        const swiftwsgi_child_counters_t *row = &status_rows[i];
        if (live[i]) t->children++;
        for (g = 0; g <= SWIFTWSGI_STATUS_GROUPS; g++) {
            /* ended before begun: begun - ended is never below what ran at the second load. */
            apr_uint64_t ended = __atomic_load_n(&row->groups[g].ended, __ATOMIC_ACQUIRE);
            apr_uint64_t begun = __atomic_load_n(&row->groups[g].begun, __ATOMIC_ACQUIRE);
            if (slot[g] < 0) continue;
            t->requests[slot[g]] += ended;
            if (live[i] && begun > ended) t->active[slot[g]] += begun - ended;
        }
    }
}

static void interpreters_section(request_rec *r, int flags, const int *live)
{
    interpreter_totals_t t;
    apr_uint64_t other_requests, other_active;
    int i;
    if (!status_rows) {
        if (!(flags & AP_STATUS_SHORT))
            ap_rputs("<hr />\n<p>mod_swiftwsgi: the embedded interpreters' counters could not be mapped.</p>\n", r);
        return;
    }
    interpreter_totals(&t, live);
    other_requests = t.requests[SWIFTWSGI_STATUS_GROUPS];
    other_active = t.active[SWIFTWSGI_STATUS_GROUPS];
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "WSGIInterpreterChildren: %d\n", t.children);
        for (i = 0; i < t.count; i++) {
            const char *k = *t.names[i] ? key_name(r->pool, t.names[i]) : "GLOBAL";
            ap_rprintf(r, "WSGIInterpreter[%s]Requests: %" APR_UINT64_T_FMT "\n", k, t.requests[i]);
            ap_rprintf(r, "WSGIInterpreter[%s]Active: %" APR_UINT64_T_FMT "\n", k, t.active[i]);
        }
        if (other_requests || other_active) {
            ap_rprintf(r, "WSGIInterpreterOtherGroupsRequests: %" APR_UINT64_T_FMT "\n", other_requests);
            ap_rprintf(r, "WSGIInterpreterOtherGroupsActive: %" APR_UINT64_T_FMT "\n", other_active);
        }
        return;
    }
    ap_rprintf(r, "<hr />\n<h2>mod_swiftwsgi embedded interpreters</h2>\n<p>Summed over %d Apache "
               "children.</p>\n", t.children);
    if (t.count == 0 && !other_requests && !other_active) {
        ap_rputs("<p>No Python interpreter has been created in Apache's children.</p>\n", r);
        return;
    }
    ap_rputs("<table border=\"0\"><tr><th>Application group</th><th>Requests</th><th>Active</th></tr>\n", r);
    for (i = 0; i < t.count; i++)
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                   *t.names[i] ? ap_escape_html(r->pool, t.names[i]) : "%{GLOBAL}", t.requests[i], t.active[i]);
    if (other_requests || other_active)
        ap_rprintf(r, "<tr><td>(other groups, beyond the first %d)</td><td>%" APR_UINT64_T_FMT "</td><td>%"
                   APR_UINT64_T_FMT "</td></tr>\n", SWIFTWSGI_STATUS_GROUPS, other_requests, other_active);
    ap_rputs("</table>\n", r);
}

/* The requests waiting for each daemon group's threads: how many, and the oldest's wait (us). */
static void queue_totals(int groups, const int *live, int *length, apr_int64_t *oldest)
{
    uint64_t mask = (UINT64_C(1) << SWIFTWSGI_QUEUE_TIME_BITS) - 1, now = monotonic_usec() & mask;
    int i, c;
    memset(length, 0, sizeof(int) * (size_t)groups);
    memset(oldest, 0, sizeof(apr_int64_t) * (size_t)groups);
    if (!queue_cells) return;
    for (i = 0; i < status_row_count; i++) {
        if (!live[i]) continue;
        for (c = 0; c < cells_per_row; c++) {
            uint64_t v = __atomic_load_n(&queue_cells[i * cells_per_row + c], __ATOMIC_RELAXED);
            int g = (int)(v >> SWIFTWSGI_QUEUE_TIME_BITS) - 1;
            apr_int64_t waited;
            if (!v || g < 0 || g >= groups) continue;
            waited = (apr_int64_t)((now - (v & mask)) & mask);
            if (waited > (apr_int64_t)(mask >> 1)) waited = 0;  /* marked after `now` was read */
            length[g]++;
            if (waited > oldest[g]) oldest[g] = waited;
        }
    }
}

static int swiftwsgi_status_hook(request_rec *r, int flags)
{
    int i, j, n = swiftwsgi_daemon_group_count();
    int *live = apr_pcalloc(r->pool, sizeof(int) * (size_t)(status_row_count + 1));
    int *queued = apr_pcalloc(r->pool, sizeof(int) * (size_t)(n + 1));
    apr_int64_t *oldest = apr_pcalloc(r->pool, sizeof(apr_int64_t) * (size_t)(n + 1));
    group_totals_t *all = apr_pcalloc(r->pool, sizeof(group_totals_t) * (size_t)(n + 1));
    apr_time_t now = apr_time_now();
    for (i = 0; status_rows && i < status_row_count; i++)
        live[i] = alive(__atomic_load_n(&status_rows[i].pid, __ATOMIC_ACQUIRE));
    interpreters_section(r, flags, live);
    if (n == 0) return OK;
    /* The daemons' figures before the queue: a daemon takes a request out of the queue before
     * it counts its thread busy, so a request is never seen both running and waiting. */
    for (i = 0; i < n; i++) {
        int processes, threads;
        const swiftwsgi_daemon_status_t *st;
        swiftwsgi_daemon_group_info(i, &processes, &threads, &st);
        totals(st, processes, &all[i]);
    }
    queue_totals(n, live, queued, oldest);
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "WSGIDaemonGroups: %d\n", n);
        for (i = 0; i < n; i++) {
            int processes, threads;
            const swiftwsgi_daemon_status_t *st;
            const char *name = swiftwsgi_daemon_group_info(i, &processes, &threads, &st);
            const char *k = key_name(r->pool, name);
            group_totals_t t = all[i];
            ap_rprintf(r, "WSGIDaemon[%s]Processes: %d\n", k, t.running);
            ap_rprintf(r, "WSGIDaemon[%s]Threads: %d\n", k, t.threads);
            ap_rprintf(r, "WSGIDaemon[%s]BusyThreads: %d\n", k, t.busy);
            ap_rprintf(r, "WSGIDaemon[%s]IdleThreads: %d\n", k, t.threads - t.busy);
            ap_rprintf(r, "WSGIDaemon[%s]Requests: %" APR_UINT64_T_FMT "\n", k, t.requests);
            ap_rprintf(r, "WSGIDaemon[%s]QueueLength: %d\n", k, queued[i]);
            ap_rprintf(r, "WSGIDaemon[%s]QueueOldestWaitMs: %" APR_INT64_T_FMT "\n", k, oldest[i] / 1000);
            ap_rprintf(r, "WSGIDaemon[%s]QueueWaitMs: %" APR_INT64_T_FMT "\n", k, t.queue_wait / 1000);
            ap_rprintf(r, "WSGIDaemon[%s]Restarts: %d\n", k, t.restarts);
            ap_rprintf(r, "WSGIDaemon[%s]LastRestartReason: %s\n", k, t.last_restart);
        }
        return OK;
    }
    ap_rputs("<hr />\n<h2>mod_swiftwsgi daemon process groups</h2>\n", r);
    for (i = 0; i < n; i++) {
        int processes, threads;
        const swiftwsgi_daemon_status_t *st;
        const char *name = swiftwsgi_daemon_group_info(i, &processes, &threads, &st);
        group_totals_t t = all[i];
        ap_rprintf(r, "<h3>%s</h3>\n<p>%d of %d processes running, %d threads busy, %d idle; "
                   "%" APR_UINT64_T_FMT " requests served; %d waiting for a thread%s%s%s; latest wait for a thread %"
                   APR_INT64_T_FMT " ms; %d restarts%s%s%s</p>\n",
                   ap_escape_html(r->pool, name), t.running, processes, t.busy, t.threads - t.busy, t.requests,
                   queued[i], queued[i] ? " (the oldest for " : "",
                   queued[i] ? apr_psprintf(r->pool, "%" APR_INT64_T_FMT, oldest[i] / 1000) : "",
                   queued[i] ? " ms)" : "", t.queue_wait / 1000, t.restarts,
                   t.restarts ? " (latest: " : "", t.restarts ? ap_escape_html(r->pool, t.last_restart) : "",
                   t.restarts ? ")" : "");
        if (!st || (flags & AP_STATUS_NOTABLE)) continue;
        ap_rputs("<table border=\"0\"><tr><th>Process</th><th>PID</th><th>Age (s)</th><th>Busy</th>"
                 "<th>Idle</th><th>Requests</th><th>Latest wait (ms)</th><th>Restarts</th>"
                 "<th>Latest restart</th><th>Stopping</th></tr>\n", r);
        for (j = 0; j < processes; j++) {
            const swiftwsgi_daemon_status_t *p = &st[j];
            int busy = __atomic_load_n(&p->busy, __ATOMIC_RELAXED);
            int pthreads = __atomic_load_n(&p->threads, __ATOMIC_RELAXED);
            ap_rprintf(r, "<tr><td>%d</td><td>%d</td><td>%" APR_INT64_T_FMT "</td><td>%d</td><td>%d</td>"
                       "<td>%" APR_UINT64_T_FMT "</td><td>%" APR_INT64_T_FMT "</td><td>%d</td><td>%s</td>"
                       "<td>%s</td></tr>\n",
                       j, p->pid, p->pid > 0 ? (apr_int64_t)apr_time_sec(now - p->started) : 0, busy,
                       pthreads - busy, (apr_uint64_t)__atomic_load_n(&p->requests, __ATOMIC_RELAXED),
                       (apr_int64_t)p->queue_wait / 1000, p->restarts,
                       ap_escape_html(r->pool, p->last_restart), ap_escape_html(r->pool, p->stop_reason));
        }
        ap_rputs("</table>\n", r);
    }
    return OK;
}

void swiftwsgi_status_register(apr_pool_t *p)
{
    (void)p;
    /* An optional hook: it runs only when mod_status is loaded and asks for it. */
    APR_OPTIONAL_HOOK(ap, status_hook, swiftwsgi_status_hook, NULL, NULL, APR_HOOK_MIDDLE);
}
