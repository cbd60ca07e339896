/*
 * swiftwsgi_daemon.c — WSGIDaemonProcess: option parsing, the groups' unix sockets (made by
 * the parent, owned by Apache's User, mode 0700, so Apache's children can always connect and
 * queue even while a daemon restarts), forking the daemons from the Apache parent, dropping
 * their privileges, restarting them when they die, and stopping them with the configuration.
 * The daemon's own work (Python, the WSGI server) is the Swift host's swiftwsgi_daemon_main.
 */
#include "swiftwsgi_daemon.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_abi.h"
#include "swiftwsgi_process.h"

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
#include <sys/resource.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

APLOG_USE_MODULE(wsgi);

struct swiftwsgi_daemon_group {
    const char *name;
    server_rec *server;
    int processes;
    int threads;
    const char *user;
    uid_t uid;
    gid_t gid;
    int umask;
    const char *home;
    const char *python_home;
    const char *python_path;
    const char *python_eggs;
    const char *lang;
    const char *locale;
    const char *display_name;
    long maximum_requests;
    int connect_timeout;
    int socket_timeout;
    int graceful_timeout;
    apr_size_t stack_size;
    int request_timeout;
    int inactivity_timeout;
    int restart_interval;
    int queue_timeout;
    int listen_backlog;
    const char *supplementary_groups;  /* comma-separated group names */
    long cpu_time_limit;               /* seconds, 0: none */
    long memory_limit;                 /* bytes (RLIMIT_DATA), 0: none */
    long virtual_memory_limit;         /* bytes (RLIMIT_AS), 0: none */
    int shutdown_timeout;              /* seconds a daemon told to stop gets for its requests */
    int startup_timeout;               /* seconds start-up may take, 0: no limit */
    int eviction_timeout;              /* seconds for requests at SIGUSR1, 0: graceful_timeout */
    int deadlock_timeout;              /* seconds the GIL may stay held, 0: no check */
    int header_buffer_size;            /* largest response header from the daemon */
    int send_buffer_size;              /* SO_SNDBUF, 0: system default */
    int receive_buffer_size;           /* SO_RCVBUF, 0: system default */
    int cpu_priority;                  /* nice value, 0: unchanged */
    int processes_given;               /* processes= was given: wsgi.multiprocess is True even for 1 */
    uid_t socket_uid;                  /* owner of the socket (socket-user=, default User) */
    long response_buffer_size;         /* bytes the daemon buffers before sending, 0: default */
    int script_uid;                    /* script-user=: the script must be owned by it, -1: any */
    int script_gid;                    /* script-group=, -1: any */
    /* Set by swiftwsgi_daemon_start. */
    const char *socket_path;
    int listen_fd;
    struct daemon_slot *slots;
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
        if (g != keep && g->listen_fd >= 0) {
            close(g->listen_fd);
            g->listen_fd = -1;
        }
    }
}

const swiftwsgi_daemon_group_t *swiftwsgi_daemon_group(const char *name)
{
    int i;
    if (!groups) return NULL;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (!strcmp(g->name, name)) return g;
    }
    return NULL;
}

const char *swiftwsgi_daemon_socket(const swiftwsgi_daemon_group_t *g) { return g->socket_path; }
int swiftwsgi_daemon_connect_timeout(const swiftwsgi_daemon_group_t *g) { return g->connect_timeout; }
int swiftwsgi_daemon_socket_timeout(const swiftwsgi_daemon_group_t *g) { return g->socket_timeout; }
int swiftwsgi_daemon_header_buffer_size(const swiftwsgi_daemon_group_t *g) { return g->header_buffer_size; }

int swiftwsgi_daemon_script_allowed(const swiftwsgi_daemon_group_t *g, const apr_finfo_t *finfo)
{
    if (g->script_uid >= 0 && (!(finfo->valid & APR_FINFO_USER) || (int)finfo->user != g->script_uid)) return 0;
    if (g->script_gid >= 0 && (!(finfo->valid & APR_FINFO_GROUP) || (int)finfo->group != g->script_gid)) return 0;
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

static const char *number_option(cmd_parms *cmd, const char *option, const char *value, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(value, &end, 10);
    if (!*value || *end || errno || v < min || v > max)
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: %s= must be a number from %ld to %ld, not '%s'",
                            option, min, max, value);
    *out = v;
    return NULL;
}

/* Options mod_wsgi has that this version does not implement yet: refused by name. */
static const char *const unsupported_options[] = {
    "maximum-processes", "response-socket-timeout", "server-metrics", "chroot", "proxy-buffer-size",
    "interrupt-timeout",
    NULL
};

const char *swiftwsgi_set_daemon_process(cmd_parms *cmd, void *mconfig, const char *args)
{
    swiftwsgi_daemon_group_t *g;
    const char *name = ap_getword_conf(cmd->pool, &args);
    const char *err;
    long n;
    (void)mconfig;
    if ((err = ap_check_cmd_context(cmd, NOT_IN_DIR_LOC_FILE))) return err;
    if (!*name) return "WSGIDaemonProcess needs a process group name";
    if (!groups) groups = apr_array_make(cmd->pool, 4, sizeof(swiftwsgi_daemon_group_t *));
    if (swiftwsgi_daemon_group(name))
        return apr_psprintf(cmd->pool, "WSGIDaemonProcess: the name '%s' is already used by another group", name);

    g = apr_pcalloc(cmd->pool, sizeof(*g));
    g->name = name;
    g->server = cmd->server;
    g->processes = 1;
    g->threads = 15;
    g->uid = ap_unixd_config.user_id;
    g->gid = ap_unixd_config.group_id;
    g->user = ap_unixd_config.user_name;
    g->umask = -1;
    g->connect_timeout = 15;
    g->socket_timeout = (int)apr_time_sec(cmd->server->timeout ? cmd->server->timeout : apr_time_from_sec(60));
    g->graceful_timeout = 15;
    g->shutdown_timeout = 5;
    g->deadlock_timeout = 300;
    g->header_buffer_size = 32768;
    g->socket_uid = ap_unixd_config.user_id;
    g->script_uid = -1;
    g->script_gid = -1;
    g->listen_backlog = 100;
    g->listen_fd = -1;

    while (*args) {
        const char *option = ap_getword_conf(cmd->pool, &args), *value;
        char *key;
        int i;
        if (!*option) break;
        value = strchr(option, '=');
        if (!value) return apr_psprintf(cmd->pool, "WSGIDaemonProcess: invalid option '%s' (expected name=value)", option);
        key = apr_pstrndup(cmd->pool, option, value - option);
        value++;
        for (i = 0; unsupported_options[i]; i++) {
            if (!strcmp(key, unsupported_options[i]))
                return apr_psprintf(cmd->pool, "WSGIDaemonProcess: option '%s' is not supported by this version "
                                    "of mod_swiftwsgi", key);
        }
        if (!strcmp(key, "processes")) {
            if ((err = number_option(cmd, key, value, 1, 1024, &n))) return err;
            g->processes = (int)n;
            g->processes_given = 1;
        }
        else if (!strcmp(key, "threads")) {
            if ((err = number_option(cmd, key, value, 1, 4096, &n))) return err;
            g->threads = (int)n;
        }
        else if (!strcmp(key, "user")) {
            g->user = value;
            g->uid = ap_uname2id(value);
        }
        else if (!strcmp(key, "group")) {
            g->gid = ap_gname2id(value);
        }
        else if (!strcmp(key, "umask")) {
            char *end;
            long mask = strtol(value, &end, 8);
            if (!*value || *end || mask < 0 || mask > 0777)
                return apr_psprintf(cmd->pool, "WSGIDaemonProcess: umask= must be an octal mask, not '%s'", value);
            g->umask = (int)mask;
        }
        else if (!strcmp(key, "home")) g->home = value;
        else if (!strcmp(key, "python-home")) {
            char reason[512];
            if (swiftwsgi_check_python_home(value, reason, sizeof(reason)) != 0)
                return apr_psprintf(cmd->pool, "WSGIDaemonProcess: python-home=: %s", reason);
            g->python_home = value;
        }
        else if (!strcmp(key, "python-path")) g->python_path = value;
        else if (!strcmp(key, "python-eggs")) g->python_eggs = value;
        else if (!strcmp(key, "lang")) g->lang = value;
        else if (!strcmp(key, "locale")) g->locale = value;
        else if (!strcmp(key, "display-name")) g->display_name = value;
        else if (!strcmp(key, "maximum-requests")) {
            if ((err = number_option(cmd, key, value, 0, 1L << 40, &n))) return err;
            g->maximum_requests = n;
        }
        else if (!strcmp(key, "connect-timeout")) {
            if ((err = number_option(cmd, key, value, 1, 3600, &n))) return err;
            g->connect_timeout = (int)n;
        }
        else if (!strcmp(key, "socket-timeout")) {
            if ((err = number_option(cmd, key, value, 1, 86400, &n))) return err;
            g->socket_timeout = (int)n;
        }
        else if (!strcmp(key, "graceful-timeout")) {
            if ((err = number_option(cmd, key, value, 0, 3600, &n))) return err;
            g->graceful_timeout = (int)n;
        }
        else if (!strcmp(key, "request-timeout") || !strcmp(key, "inactivity-timeout")
                 || !strcmp(key, "restart-interval") || !strcmp(key, "queue-timeout")) {
            if ((err = number_option(cmd, key, value, 0, 86400 * 365, &n))) return err;
            if (!strcmp(key, "request-timeout")) g->request_timeout = (int)n;
            else if (!strcmp(key, "inactivity-timeout")) g->inactivity_timeout = (int)n;
            else if (!strcmp(key, "restart-interval")) g->restart_interval = (int)n;
            else g->queue_timeout = (int)n;
        }
        else if (!strcmp(key, "startup-timeout")) {
            if ((err = number_option(cmd, key, value, 0, 3600, &n))) return err;
            g->startup_timeout = (int)n;
        }
        else if (!strcmp(key, "eviction-timeout") || !strcmp(key, "deadlock-timeout")) {
            if ((err = number_option(cmd, key, value, 0, 86400, &n))) return err;
            if (key[0] == 'e') g->eviction_timeout = (int)n;
            else g->deadlock_timeout = (int)n;
        }
        else if (!strcmp(key, "header-buffer-size")) {
            if ((err = number_option(cmd, key, value, 8192, 1L << 24, &n))) return err;
            g->header_buffer_size = (int)n;
        }
        else if (!strcmp(key, "send-buffer-size") || !strcmp(key, "receive-buffer-size")) {
            if ((err = number_option(cmd, key, value, 512, 1L << 26, &n))) return err;
            if (key[0] == 's') g->send_buffer_size = (int)n;
            else g->receive_buffer_size = (int)n;
        }
        else if (!strcmp(key, "cpu-priority")) {
            if ((err = number_option(cmd, key, value, -20, 20, &n))) return err;
            g->cpu_priority = (int)n;
        }
        else if (!strcmp(key, "shutdown-timeout")) {
            if ((err = number_option(cmd, key, value, 0, 3600, &n))) return err;
            g->shutdown_timeout = (int)n;
        }
        else if (!strcmp(key, "socket-user")) {
            struct passwd *pw = getpwnam(value);
            if (!pw) return apr_psprintf(cmd->pool, "WSGIDaemonProcess: socket-user=: no user '%s'", value);
            g->socket_uid = pw->pw_uid;
        }
        else if (!strcmp(key, "script-user")) {
            struct passwd *pw = getpwnam(value);
            if (!pw) return apr_psprintf(cmd->pool, "WSGIDaemonProcess: script-user=: no user '%s'", value);
            g->script_uid = (int)pw->pw_uid;
        }
        else if (!strcmp(key, "script-group")) {
            struct group *gr = getgrnam(value);
            if (!gr) return apr_psprintf(cmd->pool, "WSGIDaemonProcess: script-group=: no group '%s'", value);
            g->script_gid = (int)gr->gr_gid;
        }
        else if (!strcmp(key, "response-buffer-size")) {
            if ((err = number_option(cmd, key, value, 4096, 1L << 30, &n))) return err;
            g->response_buffer_size = n;
        }
        else if (!strcmp(key, "supplementary-groups")) {
            char *list = apr_pstrdup(cmd->pool, value), *state, *name;
            for (name = apr_strtok(list, ",", &state); name; name = apr_strtok(NULL, ",", &state)) {
                if (!getgrnam(name))
                    return apr_psprintf(cmd->pool, "WSGIDaemonProcess: supplementary-groups=: no group '%s'", name);
            }
            g->supplementary_groups = value;
        }
        else if (!strcmp(key, "cpu-time-limit")) {
            if ((err = number_option(cmd, key, value, 1, 1L << 30, &n))) return err;
            g->cpu_time_limit = n;
        }
        else if (!strcmp(key, "memory-limit") || !strcmp(key, "virtual-memory-limit")) {
            if ((err = number_option(cmd, key, value, 1L << 20, 1L << 50, &n))) return err;
            if (key[0] == 'm') g->memory_limit = n;
            else g->virtual_memory_limit = n;
        }
        else if (!strcmp(key, "listen-backlog")) {
            if ((err = number_option(cmd, key, value, 1, 65535, &n))) return err;
            g->listen_backlog = (int)n;
        }
        else if (!strcmp(key, "stack-size")) {
            if ((err = number_option(cmd, key, value, 65536, 1L << 30, &n))) return err;
            g->stack_size = (apr_size_t)n;
        }
        else {
            return apr_psprintf(cmd->pool, "WSGIDaemonProcess: unknown option '%s'", key);
        }
    }
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
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10930)
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
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, g->listen_backlog) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, APLOGNO(10931)
                     "mod_swiftwsgi: cannot listen on daemon socket %s", g->socket_path);
        umask(old_umask);
        close(fd);
        return -1;
    }
    umask(old_umask);
    /* Apache's children run as User: the socket is theirs, and nobody else's. */
    if (geteuid() == 0 && chown(g->socket_path, g->socket_uid, (gid_t)-1) < 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, errno, s, APLOGNO(10932)
                     "mod_swiftwsgi: cannot give daemon socket %s to User", g->socket_path);
        close(fd);
        return -1;
    }
    g->listen_fd = fd;
    return 0;
}

static void set_limits(swiftwsgi_daemon_group_t *g)
{
    struct rlimit limit;
    if (g->cpu_time_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->cpu_time_limit;
        setrlimit(RLIMIT_CPU, &limit);
    }
    if (g->memory_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->memory_limit;
        setrlimit(RLIMIT_DATA, &limit);
    }
    if (g->virtual_memory_limit > 0) {
        limit.rlim_cur = limit.rlim_max = (rlim_t)g->virtual_memory_limit;
        setrlimit(RLIMIT_AS, &limit);
    }
}

/* Adds supplementary-groups= to the groups initgroups gave the process. */
static int add_supplementary_groups(swiftwsgi_daemon_group_t *g)
{
    gid_t groups_now[NGROUPS_MAX];
    int n = getgroups(NGROUPS_MAX, groups_now);
    char *list, *state, *name;
    if (!g->supplementary_groups || n < 0) return n < 0 ? -1 : 0;
    list = strdup(g->supplementary_groups);
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
    if (setgid(g->gid) < 0 || initgroups(g->user ? g->user : "nobody", g->gid) < 0
        || add_supplementary_groups(g) < 0 || setuid(g->uid) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, errno, g->server, APLOGNO(10933)
                     "mod_swiftwsgi (pid=%d): cannot switch daemon process '%s' to user %ld, group %ld",
                     (int)getpid(), g->name, (long)g->uid, (long)g->gid);
        _exit(1);
    }
}

static void run_daemon(swiftwsgi_daemon_group_t *g, server_rec *s)
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

    if (g->umask >= 0) umask((mode_t)g->umask);
    set_limits(g);
    /* Before the privileges go: only root may raise a priority (a negative value). */
    if (g->cpu_priority && setpriority(PRIO_PROCESS, 0, g->cpu_priority) < 0)
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, APLOGNO(10937)
                     "mod_swiftwsgi (pid=%d): cannot set cpu-priority=%d", (int)getpid(), g->cpu_priority);
    drop_privileges(g);
    if (g->home && chdir(g->home) < 0)
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, APLOGNO(10934)
                     "mod_swiftwsgi (pid=%d): cannot change to home directory %s", (int)getpid(), g->home);
    else if (!g->home && chdir("/") < 0) { /* nothing else to try */ }
    if (g->lang) { setenv("LANG", g->lang, 1); }
    if (g->locale) { setenv("LC_ALL", g->locale, 1); }

    memset(&config, 0, sizeof(config));
    config.name = g->name;
    config.listen_fd = g->listen_fd;
    config.threads = g->threads;
    config.maximum_requests = g->maximum_requests;
    config.socket_timeout = g->socket_timeout;
    config.graceful_timeout = g->graceful_timeout;
    config.stack_size = g->stack_size;
    config.request_timeout = g->request_timeout;
    config.inactivity_timeout = g->inactivity_timeout;
    config.restart_interval = g->restart_interval;
    config.queue_timeout = g->queue_timeout;
    config.shutdown_timeout = g->shutdown_timeout;
    config.startup_timeout = g->startup_timeout;
    config.eviction_timeout = g->eviction_timeout;
    config.deadlock_timeout = g->deadlock_timeout;
    config.send_buffer_size = g->send_buffer_size;
    config.receive_buffer_size = g->receive_buffer_size;
    config.multiprocess = g->processes_given || g->processes > 1;
    config.response_buffer_size = (size_t)g->response_buffer_size;
    swiftwsgi_fill_process_config(&config.process, s, s->process->pconf);
    config.process.python_home = g->python_home ? g->python_home : config.process.python_home;
    config.process.python_path = g->python_path;
    if (g->python_eggs) config.process.python_eggs = g->python_eggs;
    config.process.threads_per_process = g->threads;
    config.process.maximum_processes = g->processes;
    config.process.process_group = g->name;
    config.process.import_scripts = swiftwsgi_daemon_imports(s, s->process->pconf, g->name,
                                                             &config.process.import_scripts_count);
    if (g->display_name) {
        const char *title = strcmp(g->display_name, "%{GROUP}") ? g->display_name
                                                                  : apr_psprintf(s->process->pconf, "(wsgi:%s)", g->name);
        swiftwsgi_set_process_title(title);
    }
    _exit(swiftwsgi_daemon_main(&config));
}

static void daemon_maintenance(int reason, void *data, apr_wait_t status);
static void unregister(daemon_slot_t *slot);

static int fork_daemon(daemon_slot_t *slot)
{
    apr_status_t rv = apr_proc_fork(&slot->proc, daemon_pool);
    if (rv == APR_INCHILD) {
        run_daemon(slot->group, slot->group->server);
        _exit(1);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, slot->group->server, APLOGNO(10935)
                     "mod_swiftwsgi: cannot fork daemon process for group '%s'", slot->group->name);
        return -1;
    }
    slot->running = 1;
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
    (void)status;
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        slot->running = 0;
        unregister(slot);
        if (!stopping) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, slot->group->server, APLOGNO(10936)
                         "mod_swiftwsgi: daemon process %d of group '%s' exited; starting another",
                         (int)slot->proc.pid, slot->group->name);
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

/* Stops this configuration's daemons: SIGTERM, a grace period, then SIGKILL. */
static apr_status_t stop_daemons(void *data)
{
    int i, j, waited;
    (void)data;
    stopping = 1;
    if (!groups) return APR_SUCCESS;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (!g->slots) continue;
        for (j = 0; j < g->processes; j++) {
            unregister(&g->slots[j]);
            if (g->slots[j].running) kill(g->slots[j].proc.pid, SIGTERM);
        }
    }
    for (waited = 0; waited < 100; waited++) {
        int alive = 0;
        for (i = 0; i < groups->nelts; i++) {
            swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
            if (!g->slots) continue;
            for (j = 0; j < g->processes; j++) {
                daemon_slot_t *slot = &g->slots[j];
                if (!slot->running) continue;
                if (waitpid(slot->proc.pid, NULL, WNOHANG) == slot->proc.pid) slot->running = 0;
                else alive++;
            }
        }
        if (!alive) break;
        usleep(50000);
    }
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (!g->slots) continue;
        for (j = 0; j < g->processes; j++) {
            if (g->slots[j].running) {
                kill(g->slots[j].proc.pid, SIGKILL);
                waitpid(g->slots[j].proc.pid, NULL, 0);
                g->slots[j].running = 0;
            }
        }
        if (g->listen_fd >= 0) close(g->listen_fd);
        if (g->socket_path) unlink(g->socket_path);
    }
    return APR_SUCCESS;
}

int swiftwsgi_daemon_start(apr_pool_t *pconf, server_rec *s)
{
    int generation = 0, i, j;
    if (!groups || groups->nelts == 0) return OK;
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    daemon_pool = pconf;
    stopping = 0;
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        if (make_socket(pconf, s, g, generation, i) != 0) return HTTP_INTERNAL_SERVER_ERROR;
        g->slots = apr_pcalloc(pconf, sizeof(daemon_slot_t) * g->processes);
    }
    apr_pool_cleanup_register(pconf, NULL, stop_daemons, apr_pool_cleanup_null);
    for (i = 0; i < groups->nelts; i++) {
        swiftwsgi_daemon_group_t *g = ((swiftwsgi_daemon_group_t **)groups->elts)[i];
        for (j = 0; j < g->processes; j++) {
            g->slots[j].group = g;
            g->slots[j].index = j;
            if (fork_daemon(&g->slots[j]) != 0) return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}
