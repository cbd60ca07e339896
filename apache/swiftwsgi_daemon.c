/*
 * swiftwsgi_daemon.c — WSGIDaemonProcess groups (their options are parsed by
 * swiftwsgi_daemon_options.c): the groups' unix sockets (made by
 * the parent, owned by Apache's User, mode 0700, so Apache's children can always connect and
 * queue even while a daemon restarts), forking the daemons from the Apache parent, dropping
 * their privileges, restarting them when they die, and stopping them with the configuration.
 * The daemon's own work (Python, the WSGI server) is the Swift host's swiftwsgi_daemon_main.
 */
#include <sys/prctl.h>
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_daemon_options.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_abi.h"
#include "swiftwsgi_process.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_status.h"
#include "swiftwsgi_handshake.h"

#include "http_log.h"
#include "ap_mpm.h"
#include "ap_listen.h"
#include "mpm_common.h"
#include "unixd.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"
#include "apr_signal.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

struct swiftwsgi_daemon_group {
    swiftwsgi_daemon_options_t options; /* what WSGIDaemonProcess said (name, listen_fd in options.config) */
    server_rec *server;
    int index;                          /* its place in the configuration's groups (mod_status) */
    /* Set by swiftwsgi_daemon_start. */
    const char *socket_path;
    struct daemon_slot *slots;
    swiftwsgi_daemon_status_t *status; /* one per process, in memory shared with every process */
};

typedef struct daemon_slot {
    swiftwsgi_daemon_group_t *group;
    int index;
    apr_proc_t proc;
    int running;
    int registered;  /* with apr_proc_other_child_register (unregistering twice crashes APR) */
} daemon_slot_t;

/* The groups of the current configuration (allocated from pconf). */
static apr_array_header_t *groups;
static apr_pool_t *daemon_pool;
static int stopping;

void swiftwsgi_daemon_reset(void) { groups = NULL; }

void swiftwsgi_daemon_close_listeners(const swiftwsgi_daemon_group_t *keep)
{
    int i;
    if (!groups) return;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (g != keep && g->options.config.listen_fd >= 0) {
            close(g->options.config.listen_fd);
            g->options.config.listen_fd = -1;
        }
    }
}

const swiftwsgi_daemon_group_t *swiftwsgi_daemon_group(const char *name)
{
    int i;
    if (!groups) return NULL;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (!strcmp(g->options.config.name, name)) return g;
    }
    return NULL;
}

const char *swiftwsgi_daemon_socket(const swiftwsgi_daemon_group_t *g) { return g->socket_path; }
int swiftwsgi_daemon_connect_timeout(const swiftwsgi_daemon_group_t *g) { return g->options.connect_timeout; }
int swiftwsgi_daemon_socket_timeout(const swiftwsgi_daemon_group_t *g) { return g->options.config.socket_timeout; }
/* response-socket-timeout=, else socket-timeout= (which defaults to Apache's Timeout), as mod_wsgi. */
int swiftwsgi_daemon_response_socket_timeout(const swiftwsgi_daemon_group_t *g)
{
    return g->options.response_socket_timeout ? g->options.response_socket_timeout : g->options.config.socket_timeout;
}
int swiftwsgi_daemon_header_buffer_size(const swiftwsgi_daemon_group_t *g) { return g->options.header_buffer_size; }
int swiftwsgi_daemon_response_flush_delay(const swiftwsgi_daemon_group_t *g) { return g->options.response_flush_delay; }
size_t swiftwsgi_daemon_response_buffer_size(const swiftwsgi_daemon_group_t *g) { return g->options.response_buffer_size; }
const char *swiftwsgi_daemon_chroot(const swiftwsgi_daemon_group_t *g) { return g->options.chroot; }
int swiftwsgi_daemon_index(const swiftwsgi_daemon_group_t *g) { return g->index; }

int swiftwsgi_daemon_script_allowed(const swiftwsgi_daemon_group_t *g, const apr_finfo_t *finfo)
{
    if (g->options.script_uid >= 0 && (!(finfo->valid & APR_FINFO_USER) || (int)finfo->user != g->options.script_uid)) return 0;
    if (g->options.script_gid >= 0 && (!(finfo->valid & APR_FINFO_GROUP) || (int)finfo->group != g->options.script_gid)) return 0;
    return 1;
}

int swiftwsgi_daemon_visible_from(const swiftwsgi_daemon_group_t *g, server_rec *s)
{
    /* A group defined in a virtual host serves only that host (and hosts of the same name);
     * one defined in the main server serves every host. */
    if (!g->server->is_virtual || g->server == s) return 1;
    return g->server->server_hostname && s->server_hostname
           && !strcmp(g->server->server_hostname, s->server_hostname);
}

/* ---- WSGIDaemonProcess ------------------------------------------------------------------- */

const char *swiftwsgi_set_daemon_process(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_daemon_group_t *g;
    swiftwsgi_daemon_options_t *o;
    const char *name = ap_getword_conf(cmd->pool, &args);
    const char *err;
    (void)mconfig;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE))) return err;
    if (!*name) return "WSGIDaemonProcess needs a process group name";
    if (!groups) groups = apr_array_make(cmd->pool, 4, sizeof(swiftwsgi_daemon_group_t *));
    if (swiftwsgi_daemon_group(name))
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: the name '%s' is already used by another group", name);

    g = apr_pcalloc(cmd->pool, sizeof(*g));
    g->server = cmd->server;
    o = &g->options;
    swiftwsgi_daemon_options_init(o, name);
    /* The defaults that come from Apache's own configuration. */
    o->uid = ap_unixd_config.user_id;
    o->gid = ap_unixd_config.group_id;
    o->user = ap_unixd_config.user_name;
    o->socket_uid = ap_unixd_config.user_id;
    o->config.socket_timeout = (int)apr_time_sec(cmd->server->timeout ? cmd->server->timeout : apr_time_from_sec(60));

    while (*args) {
        const char *option = swiftwsgi_next_option(cmd->pool, &args);
        if (!*option) break;
        if ((err = swiftwsgi_daemon_option(cmd->pool, o, option))) return err;
    }
    if ((err = swiftwsgi_daemon_options_check(cmd->pool, o))) return err;
    if (o->chroot && geteuid() != 0)
        return "WSGIDaemonProcess: chroot= needs Apache to start as root";
    if (o->python_home) {
        char reason[512];
        if ((err = swiftwsgi_abi_refusal())) return err;
        if (swiftwsgi_check_python_home(o->python_home, reason, sizeof(reason)) != 0)
            return apr_psprintf(cmd->pool, "WSGIDaemonProcess: python-home=: %s", reason);
    }
    swiftwsgi_daemon_options_finish(o);
    g->index = groups->nelts;
    *(swiftwsgi_daemon_group_t **)apr_array_push(groups) = g;
    return NULL;
}

/* ---- sockets and processes ----------------------------------------------------------------- */

static int make_socket(apr_pool_t *p, server_rec *s, swiftwsgi_daemon_group_t *g, int generation, int index)
{
    struct sockaddr_un addr;
    mode_t old_umask;
    int fd;
    const char *prefix = swiftwsgi_socket_prefix(s, p);

    /* The path does not change across graceful restarts: Apache's old children, still finishing
     * requests with the old configuration, reach the new daemons through it. */
    (void)generation;
    g->socket_path = apr_psprintf(p, "%s.%" APR_PID_T_FMT ".%d.sock", prefix, getpid(), index);
    if (strlen(g->socket_path) >= sizeof(addr.sun_path)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, SWIFTWSGI_LOGNO(0930)
                     "mod_swiftwsgi: daemon socket path too long: %s (set WSGISocketPrefix)", g->socket_path);
        return -1;
    }
    unlink(g->socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, g->socket_path);
    old_umask = umask(0077);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, g->options.listen_backlog) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, SWIFTWSGI_LOGNO(0931)
                     "mod_swiftwsgi: cannot listen on daemon socket %s", g->socket_path);
        umask(old_umask);
        close(fd);
        return -1;
    }
    umask(old_umask);
    /* Apache's children run as User: the socket is theirs, and nobody else's. */
    if (geteuid() == 0 && chown(g->socket_path, g->options.socket_uid, (gid_t)-1) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, SWIFTWSGI_LOGNO(0932)
                     "mod_swiftwsgi: cannot give daemon socket %s to User", g->socket_path);
        close(fd);
        return -1;
    }
    g->options.config.listen_fd = fd;
    return 0;
}

static void set_limits(swiftwsgi_daemon_group_t *g)
{
    struct rlimit limit;
    if (g->options.cpu_time_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->options.cpu_time_limit;
        setrlimit(RLIMIT_CPU, &limit);
    }
    if (g->options.memory_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->options.memory_limit;
        setrlimit(RLIMIT_DATA, &limit);
    }
    if (g->options.virtual_memory_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->options.virtual_memory_limit;
        setrlimit(RLIMIT_AS, &limit);
    }
}

/* Adds supplementary-groups= to the groups initgroups gave the process. */
static int add_supplementary_groups(swiftwsgi_daemon_group_t *g)
{
    gid_t groups_now[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups_now);
    char *list, *state, *name;
    if (!g->options.supplementary_groups || n < 0) return n < 0 ? -1 : 0;
    list = strdup(g->options.supplementary_groups);
    for (name = strtok_r(list, ",", &state); name && n < NGROUPS_MAX; name = strtok_r(NULL, ",", &state)) {
        struct group *gr = getgrnam(name);
        if (gr) groups_now[n++] = gr->gr_gid;
    }
    free(list);
    return setgroups((size_t)n, groups_now);
}

static void drop_privileges(swiftwsgi_daemon_group_t *g)
{
    if (geteuid() != 0) return;
    if (setgid(g->options.gid) < 0 || initgroups(g->options.user ? g->options.user : "nobody", g->options.gid) < 0
        || add_supplementary_groups(g) < 0 || setuid(g->options.uid) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, g->server, SWIFTWSGI_LOGNO(0933)
                     "mod_swiftwsgi (pid=%d): cannot switch daemon process '%s' to user %ld, group %ld",
                     (int)getpid(), g->options.config.name, (long)g->options.uid, (long)g->options.gid);
        _exit(1);
    }
}

/* What a daemon group loads at start: its WSGIImportScript entries, and (as mod_wsgi does) every
 * WSGIScriptAlias to a script file that names both process-group=group and a fixed
 * application-group=. */
static const swiftwsgi_import_script_t *daemon_imports(server_rec *s, apr_pool_t *p, const char *group, size_t *count)
{
    const apr_array_header_t *imports = swiftwsgi_import_scripts(s);
    apr_array_header_t *out = apr_array_make(p, 4, sizeof(swiftwsgi_import_script_t));
    server_rec *sr;
    int i, j;

    for (i = 0; i < imports->nelts; i++) {
        const swiftwsgi_import_t *imp = &((const swiftwsgi_import_t *)imports->elts)[i];
        swiftwsgi_import_script_t *script;
        if (strcmp(imp->process_group, group)) continue;
        script = apr_array_push(out);
        script->path = imp->path;
        script->application_group = imp->application_group;
    }
    for (sr = s; sr; sr = sr->next) {
        const apr_array_header_t *aliases = swiftwsgi_aliases(sr);
        for (i = 0; i < aliases->nelts; i++) {
            const swiftwsgi_alias_t *a = &((const swiftwsgi_alias_t *)aliases->elts)[i];
            const char *app_group = a->application_group;
            int seen = 0;
            if (a->regex || !a->process_group || !a->application_group || strcmp(a->process_group, group)) continue;
            if (a->application_group[0] == '%' && strcmp(a->application_group, "%{GLOBAL}")) continue;
            if (a->target[0] == '\0' || a->target[strlen(a->target) - 1] == '/') continue;
            for (j = 0; j < out->nelts; j++) {
                const swiftwsgi_import_script_t *o = &((const swiftwsgi_import_script_t *)out->elts)[j];
                if (!strcmp(o->path, a->target) && !strcmp(o->application_group, app_group)) seen = 1;
            }
            if (!seen) {
                swiftwsgi_import_script_t *script = apr_array_push(out);
                script->path = a->target;
                script->application_group = app_group;
            }
        }
    }
    *count = (size_t)out->nelts;
    return (const swiftwsgi_import_script_t *)out->elts;
}

/* Shows title as the process's name in ps (display-name=): overwrites the argument strings
 * (contiguous after argv[0]). */
static void set_process_title(const char *const *argv, const char *title)
{
    char *start, *end;
    int i;
    if (!argv || !argv[0]) return;
    start = (char *)argv[0];
    end = start + strlen(start);
    for (i = 1; argv[i] && argv[i] == end + 1; i++) end = (char *)argv[i] + strlen(argv[i]);
    memset(start, 0, (size_t)(end - start));
    apr_cpystrn(start, title, (apr_size_t)(end - start) + 1);
    prctl(PR_SET_NAME, title, 0, 0, 0);
}

static void run_daemon(swiftwsgi_daemon_group_t *g, int index, server_rec *s)
{
    swiftwsgi_daemon_config_t config;
    sigset_t none;

    /* Apache's listeners, other groups' sockets and signal dispositions are not the daemon's. */
    ap_close_listeners();
    swiftwsgi_daemon_close_listeners(g);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    apr_signal(SIGTERM, SIG_DFL);
    apr_signal(SIGHUP, SIG_DFL);
    apr_signal(SIGUSR1, SIG_DFL);
    apr_signal(SIGCHLD, SIG_DFL);
    apr_signal(SIGPIPE, SIG_IGN);

    if (g->options.umask >= 0) umask((mode_t)g->options.umask);
    set_limits(g);
    /* Before the privileges go: only root may raise a priority (a negative value). */
    if (g->options.cpu_priority && setpriority(PRIO_PROCESS, 0, g->options.cpu_priority) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, SWIFTWSGI_LOGNO(0937)
                     "mod_swiftwsgi (pid=%d): cannot set cpu-priority=%d", (int)getpid(), g->options.cpu_priority);
    /* chroot= (deprecated in mod_wsgi): Python and the applications must exist inside it. */
    if (g->options.chroot && (chroot(g->options.chroot) < 0 || chdir("/") < 0)) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, s, SWIFTWSGI_LOGNO(0961)
                     "mod_swiftwsgi (pid=%d): cannot chroot daemon process '%s' to %s",
                     (int)getpid(), g->options.config.name, g->options.chroot);
        _exit(1);
    }
    drop_privileges(g);
    if (g->options.home && chdir(g->options.home) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, SWIFTWSGI_LOGNO(0934)
                     "mod_swiftwsgi (pid=%d): cannot change to home directory %s", (int)getpid(), g->options.home);
    else if (!g->options.home && chdir("/") < 0) { /* nothing else to try */ }
    if (g->options.lang) { setenv("LANG", g->options.lang, 1); }
    if (g->options.locale) { setenv("LC_ALL", g->options.locale, 1); }
    swiftwsgi_set_newrelic_environment(g->options.newrelic_config_file, g->options.newrelic_environment);

    config = g->options.config;
    config.status = g->status ? &g->status[index] : NULL;
    config.queue_cells = swiftwsgi_status_queue_cells(&config.queue_cell_count);
    swiftwsgi_fill_process_config(&config.process, s, s->process->pconf);
    config.process.python_home = g->options.python_home ? g->options.python_home : config.process.python_home;
    config.process.python_path = swiftwsgi_path_list(s->process->pconf, g->options.python_path,
                                                     &config.process.python_path_count);
    config.process.daemon_home = g->options.home;
    if (g->options.python_eggs) config.process.python_eggs = g->options.python_eggs;
    config.process.threads_per_process = config.threads;
    config.process.maximum_processes = g->options.processes;
    config.process.process_group = config.name;
    /* A group's switch-interval= overrides WSGISwitchInterval; WSGIServerMetrics is for Apache's
     * children only, a group has its own server-metrics= (mod_wsgi's rules). */
    if (g->options.switch_interval > 0) config.process.switch_interval = g->options.switch_interval;
    config.process.server_metrics = g->options.server_metrics;
    config.process.import_scripts = daemon_imports(s, s->process->pconf, config.name,
                                                             &config.process.import_scripts_count);
    if (g->options.display_name) {
        const char *title = strcmp(g->options.display_name, "%{GROUP}")
                            ? g->options.display_name : apr_psprintf(s->process->pconf, "(wsgi:%s)", config.name);
        set_process_title(s->process->argv, title);
    }
    /* The host's server-level messages go through ap_log_error (the inherited error log, with
     * LogLevel applied), as in Apache's children. */
    swiftwsgi_io_set_server(s);
    swiftwsgi_register_ops(swiftwsgi_io_ops());
    _exit(swiftwsgi_daemon_main(&config));
}

static void daemon_maintenance(int reason, void *data, apr_wait_t status);
static void unregister(daemon_slot_t *slot);

static int fork_daemon(daemon_slot_t *slot)
{
    apr_status_t rv;
    swiftwsgi_daemon_status_t *st = slot->group->status ? &slot->group->status[slot->index] : NULL;
    if (st) {
        /* The previous process's counters become history; the new one starts from zero. */
        st->earlier_requests += st->requests;
        st->requests = 0;
        st->busy = 0;
        st->threads = 0;
        st->queue_wait = 0;
        st->stop_reason[0] = 0;
        st->pid = 0;
    }
    rv = apr_proc_fork(&slot->proc, daemon_pool);
    if (rv == APR_INCHILD) {
        run_daemon(slot->group, slot->index, slot->group->server);
        _exit(1);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, slot->group->server, SWIFTWSGI_LOGNO(0935)
                     "mod_swiftwsgi: cannot fork daemon process for group '%s'", slot->group->options.config.name);
        return -1;
    }
    slot->running = 1;
    if (st) {
        st->pid = (int32_t)slot->proc.pid;
        st->started = (int64_t)apr_time_now();
    }
    apr_proc_other_child_register(&slot->proc, daemon_maintenance, slot, NULL, daemon_pool);
    slot->registered = 1;
    return 0;
}

static void unregister(daemon_slot_t *slot)
{
    if (slot->registered) {
        slot->registered = 0;
        apr_proc_other_child_unregister(slot);
    }
}

/* The parent's view of a daemon: restart it when it dies. */
static void daemon_maintenance(int reason, void *data, apr_wait_t status)
{
    daemon_slot_t *slot = data;
    swiftwsgi_daemon_status_t *st = slot->group->status ? &slot->group->status[slot->index] : NULL;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        slot->running = 0;
        unregister(slot);
        if (st && !stopping) {
            /* For mod_status: why the process went, in its own words or by its wait status. */
            if (st->stop_reason[0])
                apr_cpystrn(st->last_restart, st->stop_reason, sizeof(st->last_restart));
            else if (reason == APR_OC_REASON_DEATH && WIFSIGNALED(status))
                apr_snprintf(st->last_restart, sizeof(st->last_restart), "signal %d", WTERMSIG(status));
            else if (reason == APR_OC_REASON_DEATH && WIFEXITED(status))
                apr_snprintf(st->last_restart, sizeof(st->last_restart), "exit %d", WEXITSTATUS(status));
            else
                apr_cpystrn(st->last_restart, "lost", sizeof(st->last_restart));
            st->restarts++;
            st->last_restart_time = (int64_t)apr_time_now();
            st->pid = 0;
        }
        if (!stopping) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, slot->group->server, SWIFTWSGI_LOGNO(0936)
                         "mod_swiftwsgi: daemon process %d of group '%s' exited; starting another",
                         (int)slot->proc.pid, slot->group->options.config.name);
            fork_daemon(slot);
        }
        break;
    case APR_OC_REASON_RESTART:
        stopping = 1;
        unregister(slot);
        break;
    case APR_OC_REASON_UNREGISTER:
        slot->registered = 0;
        break;
    default:
        break;
    }
}

/* Seconds the parent allows a daemon, beyond its shutdown-timeout, to tear Python down. */
#define SWIFTWSGI_TEARDOWN_SECONDS 2

/*
 * Stops this configuration's daemons (at stop and at every restart): SIGTERM, then each gets
 * its group's shutdown-timeout to finish its running requests (the daemon enforces it
 * itself) plus SWIFTWSGI_TEARDOWN_SECONDS; one still alive after that is killed.
 * mod_wsgi leaves this to APR's APR_KILL_AFTER_TIMEOUT, which kills after about 3 s whatever
 * shutdown-timeout says.
 */
static apr_status_t stop_daemons(void *data)
{
    apr_time_t start = apr_time_now();
    int i, j, alive;
    (void)data;
    stopping = 1;
    if (!groups) return APR_SUCCESS;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (!g->slots) continue;
        for (j = 0; j < g->options.processes; j++) {
            unregister(&g->slots[j]);
            if (g->slots[j].running) kill(g->slots[j].proc.pid, SIGTERM);
        }
    }
    do {
        apr_time_t now = apr_time_now();
        alive = 0;
        for (i = 0; i < groups->nelts; i++) {
            swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
            apr_time_t deadline = start + apr_time_from_sec(g->options.config.shutdown_timeout
                                                            + SWIFTWSGI_TEARDOWN_SECONDS);
            if (!g->slots) continue;
            for (j = 0; j < g->options.processes; j++) {
                daemon_slot_t *slot = &g->slots[j];
                if (!slot->running) continue;
                if (waitpid(slot->proc.pid, NULL, WNOHANG) == slot->proc.pid) {
                    slot->running = 0;
                }
                else if (now >= deadline) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->server, SWIFTWSGI_LOGNO(0938)
                                 "mod_swiftwsgi: daemon process %d of group '%s' still running %d s after "
                                 "SIGTERM (shutdown-timeout=%d); killing it", (int)slot->proc.pid,
                                 g->options.config.name, g->options.config.shutdown_timeout
                                 + SWIFTWSGI_TEARDOWN_SECONDS, g->options.config.shutdown_timeout);
                    kill(slot->proc.pid, SIGKILL);
                    waitpid(slot->proc.pid, NULL, 0);
                    slot->running = 0;
                }
                else {
                    alive++;
                }
            }
        }
        if (alive) usleep(50000);
    } while (alive);
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (g->options.config.listen_fd >= 0) close(g->options.config.listen_fd);
        if (g->socket_path) unlink(g->socket_path);
    }
    return APR_SUCCESS;
}

/* ---- counters for mod_status ---------------------------------------------------------------- */

static void *status_memory;
static size_t status_size;

static apr_status_t unmap_status(void *data)
{
    (void)data;
    if (status_memory) munmap(status_memory, status_size);
    status_memory = NULL;
    return APR_SUCCESS;
}

/* One swiftwsgi_daemon_status_t per daemon process, mapped shared before anything is forked:
 * the daemons write theirs, the parent records restarts, Apache's children read them all. */
static void map_status(apr_pool_t *pconf)
{
    int i, total = 0;
    swiftwsgi_daemon_status_t *next;
    for (i = 0; i < groups->nelts; i++)
        total += ((swiftwsgi_daemon_group_t **)groups->elts)[i]->options.processes;
    status_size = sizeof(swiftwsgi_daemon_status_t) * (size_t)total;
    status_memory = mmap(NULL, status_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (status_memory == MAP_FAILED) {
        status_memory = NULL;  /* no counters: mod_status shows none, requests are unaffected */
        return;
    }
    apr_pool_cleanup_register(pconf, NULL, unmap_status, apr_pool_cleanup_null);
    next = status_memory;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        g->status = next;
        next += g->options.processes;
    }
}

int swiftwsgi_daemon_group_count(void) { return groups ? groups->nelts : 0; }

const char *swiftwsgi_daemon_group_info(int i, int *processes, int *threads, const swiftwsgi_daemon_status_t **status)
{
    const swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
    *processes = g->options.processes;
    *threads = g->options.config.threads;
    *status = g->status;
    return g->options.config.name;
}

int swiftwsgi_daemon_start(apr_pool_t *pconf, server_rec *s)
{
    int generation = 0, i, j;
    if (!groups || groups->nelts == 0) return OK;
    map_status(pconf);
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    daemon_pool = pconf;
    stopping = 0;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (make_socket(pconf, s, g, generation, i) != 0) return HTTP_INTERNAL_SERVER_ERROR;
        g->slots = apr_pcalloc(pconf, sizeof(daemon_slot_t) * g->options.processes);
    }
    apr_pool_cleanup_register(pconf, NULL, stop_daemons, apr_pool_cleanup_null);
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        for (j = 0; j < g->options.processes; j++) {
            g->slots[j].group = g;
            g->slots[j].index = j;
            if (fork_daemon(&g->slots[j]) != 0) return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
