/*
 * swiftwsgi_status_layout.h — the shared-memory layouts of the status counters: the tables the
 * Apache parent maps before it forks, which Apache's children, the daemon processes and
 * mod_status (apache/swiftwsgi_status.c) read and write with the relaxed atomics below. Part of
 * the ABI (swiftwsgi_abi.h): a layout change bumps SWIFTWSGI_ABI_VERSION.
 */
#ifndef SWIFTWSGI_STATUS_LAYOUT_H
#define SWIFTWSGI_STATUS_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * mod_status's figures of Apache's children (apache/swiftwsgi_status.c reads them), in memory the
 * Apache parent maps at each configuration load when mod_status is loaded, before it forks:
 *
 * - the names of the application groups whose embedded requests are counted (one table for all
 *   children, claimed by the first child that creates the group's interpreter);
 * - one row per Apache child (ServerLimit rows, each claimed by a child at its start): per named
 *   group, the requests begun and ended by its interpreter in that child, then one pair for the
 *   groups beyond SWIFTWSGI_STATUS_GROUPS;
 * - the queue cells of each child (as many as twice its threads, and some): one is non-zero
 *   while a request the child handed to a daemon group waits for a daemon thread
 *   (swiftwsgi_queue_mark()).
 *
 * Every write is one relaxed atomic; nothing here locks.
 */

/** Application groups named in the shared table; the embedded requests of further groups are
 *  counted together, as "other groups". */
#define SWIFTWSGI_STATUS_GROUPS 64
/** Bytes kept of a group's name, with its NUL: groups whose names agree in the first 255 bytes
 *  are counted as one. */
#define SWIFTWSGI_STATUS_NAME_SIZE 256

/** One named application group. state: 0 free, 1 being written, 2 written (then never changes). */
typedef struct swiftwsgi_status_name {
    uint32_t state;
    char name[SWIFTWSGI_STATUS_NAME_SIZE]; /* the expanded group; "" for %{GLOBAL} */
} swiftwsgi_status_name_t;

/** An interpreter's requests in one child: begun - ended are running, ended were served. */
typedef struct swiftwsgi_interpreter_counters {
    uint64_t begun;
    uint64_t ended;
} swiftwsgi_interpreter_counters_t;

/** One Apache child's row. A child that takes over the row of one that exited keeps its
 *  requests (they stay served) and clears what was running. */
typedef struct swiftwsgi_child_counters {
    int32_t pid;                      /* the child using it; 0: free */
    int32_t reserved;
    swiftwsgi_interpreter_counters_t groups[SWIFTWSGI_STATUS_GROUPS + 1]; /* by name index, then other groups */
} swiftwsgi_child_counters_t;

/** The index of group's name in names (claimed when new); SWIFTWSGI_STATUS_GROUPS when the
 *  table is full. Scans at most SWIFTWSGI_STATUS_GROUPS entries; never waits. Two children
 *  naming a new group at the same instant may claim an entry each (readers add them up). */
static inline int swiftwsgi_status_group_index(swiftwsgi_status_name_t *names, const char *group)
{
    int i;
    size_t n;
    for (n = 0; group[n] && n + 1 < SWIFTWSGI_STATUS_NAME_SIZE; n++) {}
    for (i = 0; i < SWIFTWSGI_STATUS_GROUPS; i++) {
        swiftwsgi_status_name_t *e = &names[i];
        uint32_t state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), free_state = 0;
        if (state == 2) {
            size_t k;
            for (k = 0; k < n && e->name[k] == group[k]; k++) {}
            if (k == n && e->name[n] == 0) return i;
        }
        else if (state == 0 && __atomic_compare_exchange_n(&e->state, &free_state, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            size_t k;
            for (k = 0; k < n; k++) e->name[k] = group[k];
            e->name[n] = 0;
            __atomic_store_n(&e->state, 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return SWIFTWSGI_STATUS_GROUPS;
}

/** Group index's counters in row (index SWIFTWSGI_STATUS_GROUPS: the other groups'). */
static inline swiftwsgi_interpreter_counters_t *swiftwsgi_child_group_counters(swiftwsgi_child_counters_t *row, int index)
{
    return &row->groups[index < 0 || index > SWIFTWSGI_STATUS_GROUPS ? SWIFTWSGI_STATUS_GROUPS : index];
}

static inline void swiftwsgi_interpreter_begun(swiftwsgi_interpreter_counters_t *c)
{
    __atomic_add_fetch(&c->begun, 1, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_interpreter_ended(swiftwsgi_interpreter_counters_t *c)
{
    __atomic_add_fetch(&c->ended, 1, __ATOMIC_RELAXED);
}

/** A queue cell's value while its request waits: the daemon group's index + 1 in the top 16
 *  bits, below them when the wait began (CLOCK_MONOTONIC microseconds, modulo 2^48). */
#define SWIFTWSGI_QUEUE_TIME_BITS 48
static inline uint64_t swiftwsgi_queue_mark(int group, uint64_t monotonic_usec)
{
    uint64_t t = monotonic_usec & ((UINT64_C(1) << SWIFTWSGI_QUEUE_TIME_BITS) - 1);
    return ((uint64_t)(group + 1) << SWIFTWSGI_QUEUE_TIME_BITS) | (t ? t : 1);
}

/** A daemon thread took the request: its cell is cleared, unless it no longer holds mark. */
static inline void swiftwsgi_queue_taken(uint64_t *cells, uint32_t count, int32_t cell, uint64_t mark)
{
    if (!cells || mark == 0 || cell < 0 || (uint32_t)cell >= count) return;
    __atomic_compare_exchange_n(&cells[cell], &mark, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

/**
 * One daemon process's counters, in memory shared by the Apache parent (which maps it before it
 * forks anything), the daemons and Apache's children (mod_status reads it: swiftwsgi_status.c).
 * The daemon writes its fields with the helpers below (relaxed atomics: one add per request);
 * the parent writes pid, started, restarts and last_restart.
 */
typedef struct swiftwsgi_daemon_status {
    int32_t pid;                      /* parent: the running process, 0 while none */
    int32_t threads;                  /* daemon: threads=, once it serves */
    int32_t busy;                     /* daemon: threads running a request */
    int32_t restarts;                 /* parent: processes of this slot started after the first */
    uint64_t requests;                /* daemon: requests this process served */
    uint64_t earlier_requests;        /* parent: requests the slot's earlier processes served */
    int64_t started;                  /* parent: when the process was started (microseconds) */
    int64_t queue_wait;               /* daemon: how long its latest request waited for a thread (us) */
    int64_t last_restart_time;        /* parent: when the latest restart happened (microseconds) */
    char stop_reason[40];             /* daemon: why it is stopping (mod_wsgi's shutdown_reason) */
    char last_restart[40];            /* parent: why the previous process went (its stop_reason, or
                                         "exit N" / "signal N" when it said nothing) */
} swiftwsgi_daemon_status_t;

static inline void swiftwsgi_status_set_threads(swiftwsgi_daemon_status_t *s, int32_t threads)
{
    if (s) __atomic_store_n(&s->threads, threads, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_busy(swiftwsgi_daemon_status_t *s, int32_t delta)
{
    if (s) __atomic_add_fetch(&s->busy, delta, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_served(swiftwsgi_daemon_status_t *s, int64_t queue_wait)
{
    if (!s) return;
    __atomic_add_fetch(&s->requests, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->queue_wait, queue_wait, __ATOMIC_RELAXED);
}
static inline void swiftwsgi_status_stopping(swiftwsgi_daemon_status_t *s, const char *reason)
{
    size_t i;
    if (!s || !reason) return;
    for (i = 0; i + 1 < sizeof(s->stop_reason) && reason[i]; i++) s->stop_reason[i] = reason[i];
    s->stop_reason[i] = 0;
}

#ifdef __cplusplus
}
#endif

#endif /* SWIFTWSGI_STATUS_LAYOUT_H */
