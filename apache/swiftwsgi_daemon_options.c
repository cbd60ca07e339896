/*
 * swiftwsgi_daemon_options.c — the WSGIDaemonProcess option table and its parser. Adding an
 * option is adding a row; the parser knows only the kinds of values, never an option's name.
 */
#include "swiftwsgi_daemon_options.h"

#include "apr_strings.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/** How an option's value is read and where it is stored. */
typedef enum {
    OPTION_INT,         /**< decimal in [min, max], stored as int */
    OPTION_LONG,        /**< decimal in [min, max], stored as long */
    OPTION_SIZE,        /**< decimal in [min, max], stored as size_t */
    OPTION_STRING,      /**< any text, stored as const char * */
    OPTION_PATH,        /**< an absolute path, stored as const char * */
    OPTION_DOUBLE,      /**< a positive decimal number, stored as double */
    OPTION_FLAG,        /**< On or Off, stored as int */
    OPTION_OCTAL,       /**< octal in [min, max], stored as int */
    OPTION_USER,        /**< a user name or #uid (not root): the uid stored as long, the name in user */
    OPTION_UID,         /**< a user name or #uid: the uid stored as long */
    OPTION_GID,         /**< a group name or #gid: the gid stored as long */
    OPTION_GROUP_LIST,  /**< comma-separated group names, each must exist; stored as given */
    OPTION_UNSUPPORTED, /**< mod_wsgi has it, this version does not: refused by name */
} option_kind_t;

typedef struct {
    const char *name;
    option_kind_t kind;
    size_t offset;     /**< of the field in swiftwsgi_daemon_options_t */
    long min, max;     /**< accepted range of numbers */
    const char *unit;  /**< what a number counts, for error messages; NULL for other kinds */
    int zero_default;  /**< ZERO_DEFAULT: 0 is also accepted and keeps the default (mod_wsgi's
                            "0 for default"), whatever min is */
} daemon_option_t;

#define FIELD(f) offsetof(swiftwsgi_daemon_options_t, f)
#define CONFIG(f) offsetof(swiftwsgi_daemon_options_t, config.f)
#define YEAR (86400L * 365)
#define ZERO_DEFAULT 1

static const daemon_option_t options_table[] = {
    { "processes",            OPTION_INT,    FIELD(processes),            1, 1024, "processes", 0 },
    /* threads=0: no request threads, the process only runs its WSGIImportScript service scripts. */
    { "threads",              OPTION_INT,    CONFIG(threads),             0, 4096, "threads", 0 },
    { "user",                 OPTION_USER,   FIELD(uid),                  0, 0, NULL, 0 },
    { "group",                OPTION_GID,    FIELD(gid),                  0, 0, NULL, 0 },
    { "umask",                OPTION_OCTAL,  FIELD(umask),                0, 0777, NULL, 0 },
    { "home",                 OPTION_PATH,   FIELD(home),                 0, 0, NULL, 0 },
    { "chroot",               OPTION_PATH,   FIELD(chroot),               0, 0, NULL, 0 },
    { "python-home",          OPTION_STRING, FIELD(python_home),          0, 0, NULL, 0 },
    { "python-path",          OPTION_STRING, FIELD(python_path),          0, 0, NULL, 0 },
    { "python-eggs",          OPTION_STRING, FIELD(python_eggs),          0, 0, NULL, 0 },
    { "lang",                 OPTION_STRING, FIELD(lang),                 0, 0, NULL, 0 },
    { "locale",               OPTION_STRING, FIELD(locale),               0, 0, NULL, 0 },
    { "display-name",         OPTION_STRING, FIELD(display_name),         0, 0, NULL, 0 },
    { "maximum-requests",     OPTION_LONG,   CONFIG(maximum_requests),    0, 1L << 40, "requests", 0 },
    { "connect-timeout",      OPTION_INT,    FIELD(connect_timeout),      1, 3600, "seconds", ZERO_DEFAULT },
    { "socket-timeout",       OPTION_INT,    CONFIG(socket_timeout),      1, 86400, "seconds", ZERO_DEFAULT },
    { "graceful-timeout",     OPTION_INT,    CONFIG(graceful_timeout),    0, 3600, "seconds", 0 },
    { "request-timeout",      OPTION_INT,    CONFIG(request_timeout),     0, YEAR, "seconds", 0 },
    { "inactivity-timeout",   OPTION_INT,    CONFIG(inactivity_timeout),  0, YEAR, "seconds", 0 },
    { "restart-interval",     OPTION_INT,    CONFIG(restart_interval),    0, YEAR, "seconds", 0 },
    { "queue-timeout",        OPTION_INT,    CONFIG(queue_timeout),       0, YEAR, "seconds", 0 },
    { "startup-timeout",      OPTION_INT,    CONFIG(startup_timeout),     0, 3600, "seconds", 0 },
    { "shutdown-timeout",     OPTION_INT,    CONFIG(shutdown_timeout),    0, 3600, "seconds", 0 },
    { "eviction-timeout",     OPTION_INT,    CONFIG(eviction_timeout),    0, 86400, "seconds", 0 },
    { "deadlock-timeout",     OPTION_INT,    CONFIG(deadlock_timeout),    0, 86400, "seconds", 0 },
    { "header-buffer-size",   OPTION_INT,    FIELD(header_buffer_size),   8192, 1L << 24, "bytes", ZERO_DEFAULT },
    { "send-buffer-size",     OPTION_INT,    CONFIG(send_buffer_size),    512, 1L << 26, "bytes", ZERO_DEFAULT },
    { "receive-buffer-size",  OPTION_INT,    CONFIG(receive_buffer_size), 512, 1L << 26, "bytes", ZERO_DEFAULT },
    { "response-buffer-size", OPTION_SIZE,   FIELD(response_buffer_size), 4096, 1L << 30, "bytes", ZERO_DEFAULT },
    { "stack-size",           OPTION_SIZE,   CONFIG(stack_size),          65536, 1L << 30, "bytes", ZERO_DEFAULT },
    { "cpu-priority",         OPTION_INT,    FIELD(cpu_priority),         -20, 20, "nice value", 0 },
    { "cpu-time-limit",       OPTION_LONG,   FIELD(cpu_time_limit),       1, 1L << 30, "seconds", ZERO_DEFAULT },
    { "memory-limit",         OPTION_LONG,   FIELD(memory_limit),         1L << 20, 1L << 50, "bytes", ZERO_DEFAULT },
    { "virtual-memory-limit", OPTION_LONG,   FIELD(virtual_memory_limit), 1L << 20, 1L << 50, "bytes", ZERO_DEFAULT },
    { "listen-backlog",       OPTION_INT,    FIELD(listen_backlog),       1, 65535, "connections", ZERO_DEFAULT },
    { "socket-user",          OPTION_UID,    FIELD(socket_uid),           0, 0, NULL, 0 },
    { "script-user",          OPTION_UID,    FIELD(script_uid),           0, 0, NULL, 0 },
    { "script-group",         OPTION_GID,    FIELD(script_gid),           0, 0, NULL, 0 },
    { "supplementary-groups", OPTION_GROUP_LIST, FIELD(supplementary_groups), 0, 0, NULL, 0 },
    { "switch-interval",      OPTION_DOUBLE, FIELD(switch_interval),      0, 0, "seconds", 0 },
    { "server-metrics",       OPTION_FLAG,   FIELD(server_metrics),       0, 0, NULL, 0 },
    { "newrelic-config-file", OPTION_STRING, FIELD(newrelic_config_file), 0, 0, NULL, 0 },
    { "newrelic-environment", OPTION_STRING, FIELD(newrelic_environment), 0, 0, NULL, 0 },
    { "response-socket-timeout", OPTION_INT, FIELD(response_socket_timeout), 0, YEAR, "seconds", 0 },
    { "interrupt-timeout",    OPTION_INT,    CONFIG(interrupt_timeout),   0, YEAR, "seconds", 0 },
    { "response-flush-delay", OPTION_INT,    FIELD(response_flush_delay), 0, 60000, "milliseconds", 0 },
};

void swiftwsgi_daemon_options_init(swiftwsgi_daemon_options_t *o, const char *name)
{
    memset(o, 0, sizeof(*o));
    o->config.name = name;
    o->config.listen_fd = -1;
    o->config.threads = 15;
    o->config.socket_timeout = 60;
    o->config.graceful_timeout = 15;
    o->config.shutdown_timeout = 5;
    o->config.deadlock_timeout = 300;
    o->processes = 1;
    o->umask = -1;
    o->connect_timeout = 15;
    o->listen_backlog = 100;
    o->header_buffer_size = 32768;
    /* mod_wsgi 6.0.2: the Apache child flushes daemon output after 5 ms without more, and
     * forces a flush after 8 MB passed on without one. */
    o->response_flush_delay = 5;
    o->response_buffer_size = 8 * 1024 * 1024;
    o->script_uid = -1;
    o->script_gid = -1;
}

void swiftwsgi_daemon_options_finish(swiftwsgi_daemon_options_t *o)
{
    o->config.multiprocess = o->processes_given || o->processes > 1;
    /* eviction-timeout=0 (the default): a SIGUSR1-evicted process gets graceful-timeout. */
    if (o->config.eviction_timeout == 0) o->config.eviction_timeout = o->config.graceful_timeout;
}

static const daemon_option_t *find_option(const char *name, size_t len)
{
    size_t i;
    for (i = 0; i < sizeof(options_table) / sizeof(options_table[0]); i++) {
        if (strlen(options_table[i].name) == len && !memcmp(options_table[i].name, name, len))
            return &options_table[i];
    }
    return NULL;
}

static const char *parse_number(apr_pool_t *p, const daemon_option_t *opt, const char *value, int base, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(value, &end, base);
    if (opt->zero_default && *value && !*end && !errno && v == 0) {
        *out = 0;
        return NULL;
    }
    if (!*value || *end || errno || v < opt->min || v > opt->max) {
        if (base == 8)
            return apr_psprintf(p, "WSGIDaemonProcess: %s= must be an octal mask, not '%s'", opt->name, value);
        return apr_psprintf(p, "WSGIDaemonProcess: %s= must be %sa number from %ld to %ld%s%s%s, not '%s'", opt->name,
                            opt->zero_default ? "0 (the default) or " : "", opt->min, opt->max,
                            opt->unit ? " (" : "", opt->unit ? opt->unit : "", opt->unit ? ")" : "", value);
    }
    *out = v;
    return NULL;
}

static const char *parse_id(apr_pool_t *p, const daemon_option_t *opt, const char *value, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(value, &end, 10);
    if (!*value || *end || errno || v < 0 || v > 0x7fffffffL)
        return apr_psprintf(p, "WSGIDaemonProcess: %s=#%s is not a numeric id", opt->name, value);
    *out = v;
    return NULL;
}

const char *swiftwsgi_daemon_options_check(apr_pool_t *p, const swiftwsgi_daemon_options_t *o)
{
    (void)p;
    if (o->script_uid >= 0 && o->script_gid >= 0)
        return "WSGIDaemonProcess: only one of script-user= and script-group= may be given (as in mod_wsgi)";
    return NULL;
}

const char *swiftwsgi_daemon_option(apr_pool_t *p, swiftwsgi_daemon_options_t *o, const char *option)
{
    const char *value = strchr(option, '=');
    const daemon_option_t *opt;
    char *field = (char *)o;
    const char *err;
    long n;

    if (!value || value == option)
        return apr_psprintf(p, "WSGIDaemonProcess: invalid option '%s' (expected name=value)", option);
    opt = find_option(option, (size_t)(value - option));
    value++;
    if (!opt)
        return apr_psprintf(p, "WSGIDaemonProcess: unknown option '%s'",
                            apr_pstrndup(p, option, (apr_size_t)(value - 1 - option)));
    field += opt->offset;
    switch (opt->kind) {
    case OPTION_INT:
        if ((err = parse_number(p, opt, value, 10, &n))) return err;
        if (n == 0 && opt->zero_default) return NULL;
        *(int *)field = (int)n;
        if (opt->offset == FIELD(processes)) o->processes_given = 1;
        return NULL;
    case OPTION_LONG:
        if ((err = parse_number(p, opt, value, 10, &n))) return err;
        if (n == 0 && opt->zero_default) return NULL;
        *(long *)field = n;
        return NULL;
    case OPTION_SIZE:
        if ((err = parse_number(p, opt, value, 10, &n))) return err;
        if (n == 0 && opt->zero_default) return NULL;
        *(size_t *)field = (size_t)n;
        return NULL;
    case OPTION_OCTAL:
        if ((err = parse_number(p, opt, value, 8, &n))) return err;
        *(int *)field = (int)n;
        return NULL;
    case OPTION_STRING:
        *(const char **)field = apr_pstrdup(p, value);
        return NULL;
    case OPTION_PATH:
        if (*value != '/')
            return apr_psprintf(p, "WSGIDaemonProcess: %s= must be an absolute path, not '%s'", opt->name, value);
        *(const char **)field = apr_pstrdup(p, value);
        return NULL;
    case OPTION_DOUBLE: {
        char *end;
        double d;
        errno = 0;
        d = strtod(value, &end);
        if (end == value || *end || errno || !(d > 0) || d > 3600)
            return apr_psprintf(p, "WSGIDaemonProcess: %s= must be a positive number of %s, not '%s'",
                                opt->name, opt->unit, value);
        *(double *)field = d;
        return NULL;
    }
    case OPTION_FLAG:
        if (!strcasecmp(value, "On")) *(int *)field = 1;
        else if (!strcasecmp(value, "Off")) *(int *)field = 0;
        else return apr_psprintf(p, "WSGIDaemonProcess: %s= must be On or Off, not '%s'", opt->name, value);
        return NULL;
    case OPTION_USER:
    case OPTION_UID: {
        /* A name, or #uid as in Apache's User directive; either must be a known user. */
        struct passwd *pw = NULL;
        if (*value == '#') {
            if ((err = parse_id(p, opt, value + 1, &n))) return err;
            pw = getpwuid((uid_t)n);
        }
        else pw = getpwnam(value);
        if (!pw) return apr_psprintf(p, "WSGIDaemonProcess: %s=: no user '%s'", opt->name, value);
        if (opt->kind == OPTION_USER && pw->pw_uid == 0)
            return "WSGIDaemonProcess: user=: daemon processes may not run as root (as in mod_wsgi)";
        *(long *)field = (long)pw->pw_uid;
        if (opt->kind == OPTION_USER) o->user = apr_pstrdup(p, pw->pw_name);
        return NULL;
    }
    case OPTION_GID: {
        /* group= takes any #gid (as Apache's Group); a name, and script-group=#gid, must exist. */
        struct group *gr = NULL;
        if (*value == '#') {
            if ((err = parse_id(p, opt, value + 1, &n))) return err;
            if (opt->offset == FIELD(gid)) {
                *(long *)field = n;
                return NULL;
            }
            gr = getgrgid((gid_t)n);
        }
        else gr = getgrnam(value);
        if (!gr) return apr_psprintf(p, "WSGIDaemonProcess: %s=: no group '%s'", opt->name, value);
        *(long *)field = (long)gr->gr_gid;
        return NULL;
    }
    case OPTION_GROUP_LIST: {
        char *list = apr_pstrdup(p, value), *state, *name;
        for (name = apr_strtok(list, ",", &state); name; name = apr_strtok(NULL, ",", &state)) {
            if (!getgrnam(name)) return apr_psprintf(p, "WSGIDaemonProcess: %s=: no group '%s'", opt->name, name);
        }
        *(const char **)field = apr_pstrdup(p, value);
        return NULL;
    }
    case OPTION_UNSUPPORTED:
        break;
    }
    return apr_psprintf(p, "WSGIDaemonProcess: option '%s' is not supported by this version of mod_swiftwsgi",
                        opt->name);
}
