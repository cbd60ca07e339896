/*
 * swiftwsgi_status.c — mod_swiftwsgi's section of mod_status's page (/server-status, and its
 * ?auto form): per daemon process group, its processes, their threads busy and idle, the
 * requests served, how long the latest requests waited for a thread, and the restarts with
 * the latest one's reason. The counters live in memory the Apache parent shares with the
 * daemons (swiftwsgi_daemon.c); the daemons update them with one atomic add per request.
 * Then the embedded interpreters of the Apache child that answers (the Swift host's counters:
 * requests served and running per application group).
 * Without mod_status loaded this file registers nothing that runs.
 */
#include "swiftwsgi_status.h"
#include "swiftwsgi_daemon.h"

#include "httpd.h"
#include "http_protocol.h"
#include "mod_status.h"
#include "apr_strings.h"
#include "apr_optional_hooks.h"

#include <ctype.h>
#include <unistd.h>

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

typedef struct {
    request_rec *r;
    int flags;
    int count;
} interpreter_report_t;

static void report_interpreter(void *context, const char *group, uint64_t served, int32_t active)
{
    interpreter_report_t *rep = context;
    request_rec *r = rep->r;
    const char *name = *group ? group : "%{GLOBAL}";
    if (rep->flags & AP_STATUS_SHORT) {
        const char *k = *group ? key_name(r->pool, group) : "GLOBAL";
        ap_rprintf(r, "WSGIInterpreter[%s]Requests: %" APR_UINT64_T_FMT "\n", k, (apr_uint64_t)served);
        ap_rprintf(r, "WSGIInterpreter[%s]Active: %d\n", k, (int)active);
    }
    else {
        if (rep->count == 0)
            ap_rprintf(r, "<h2>mod_swiftwsgi interpreters of this child (pid %d)</h2>\n<table border=\"0\">"
                       "<tr><th>Application group</th><th>Requests</th><th>Active</th></tr>\n", (int)getpid());
        ap_rprintf(r, "<tr><td>%s</td><td>%" APR_UINT64_T_FMT "</td><td>%d</td></tr>\n",
                   ap_escape_html(r->pool, name), (apr_uint64_t)served, (int)active);
    }
    rep->count++;
}

static void interpreters_section(request_rec *r, int flags)
{
    interpreter_report_t rep = { r, flags, 0 };
    if (!(flags & AP_STATUS_SHORT)) ap_rputs("<hr />\n", r);
    swiftwsgi_interpreter_status(report_interpreter, &rep);
    if (flags & AP_STATUS_SHORT) return;
    if (rep.count) ap_rputs("</table>\n", r);
    else ap_rprintf(r, "<p>mod_swiftwsgi: no Python interpreter in this child (pid %d).</p>\n", (int)getpid());
}

static int swiftwsgi_status_hook(request_rec *r, int flags)
{
    int i, j, n = swiftwsgi_daemon_group_count();
    apr_time_t now = apr_time_now();
    interpreters_section(r, flags);
    if (n == 0) return OK;
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "WSGIDaemonGroups: %d\n", n);
        for (i = 0; i < n; i++) {
            int processes, threads;
            const swiftwsgi_daemon_status_t *st;
            const char *name = swiftwsgi_daemon_group_info(i, &processes, &threads, &st);
            const char *k = key_name(r->pool, name);
            group_totals_t t;
            totals(st, processes, &t);
            ap_rprintf(r, "WSGIDaemon[%s]Processes: %d\n", k, t.running);
            ap_rprintf(r, "WSGIDaemon[%s]Threads: %d\n", k, t.threads);
            ap_rprintf(r, "WSGIDaemon[%s]BusyThreads: %d\n", k, t.busy);
            ap_rprintf(r, "WSGIDaemon[%s]IdleThreads: %d\n", k, t.threads - t.busy);
            ap_rprintf(r, "WSGIDaemon[%s]Requests: %" APR_UINT64_T_FMT "\n", k, t.requests);
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
        group_totals_t t;
        totals(st, processes, &t);
        ap_rprintf(r, "<h3>%s</h3>\n<p>%d of %d processes running, %d threads busy, %d idle; "
                   "%" APR_UINT64_T_FMT " requests served; latest wait for a thread %" APR_INT64_T_FMT
                   " ms; %d restarts%s%s%s</p>\n",
                   ap_escape_html(r->pool, name), t.running, processes, t.busy, t.threads - t.busy,
                   t.requests, t.queue_wait / 1000, t.restarts,
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
