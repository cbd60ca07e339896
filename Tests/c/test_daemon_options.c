/*
 * test_daemon_options.c — the WSGIDaemonProcess option table and parser
 * (apache/swiftwsgi_daemon_options.c, which needs only APR): defaults, ranges, "0 for the
 * default", octal masks, paths, flags, users and groups, and the messages of refusals.
 */
#include "check.h"
#include "swiftwsgi_daemon_options.h"

#include "apr_general.h"

#include <string.h>

static apr_pool_t *pool;

/* Parses each option of a NULL-terminated list into o; returns the first error or NULL. */
static const char *parse(swiftwsgi_daemon_options_t *o, const char *const *options)
{
    swiftwsgi_daemon_options_init(o, "test");
    for (; *options; options++) {
        const char *err = swiftwsgi_daemon_option(pool, o, *options);
        if (err) return err;
    }
    swiftwsgi_daemon_options_finish(o);
    return NULL;
}

static const char *one(swiftwsgi_daemon_options_t *o, const char *option)
{
    const char *options[] = { option, NULL };
    return parse(o, options);
}

#define CONTAINS(s, part) ((s) && strstr((s), (part)))

TEST(defaults_are_mod_wsgis)
{
    swiftwsgi_daemon_options_t o;
    const char *none[] = { NULL };
    CHECK(parse(&o, none) == NULL);
    CHECK(o.processes == 1 && !o.processes_given && !o.config.multiprocess);
    CHECK(o.config.threads == 15 && o.config.socket_timeout == 60 && o.connect_timeout == 15);
    CHECK(o.config.graceful_timeout == 15 && o.config.shutdown_timeout == 5 && o.config.deadlock_timeout == 300);
    CHECK(o.listen_backlog == 100 && o.header_buffer_size == 32768);
    CHECK(o.umask == -1 && o.script_uid == -1 && o.script_gid == -1);
    CHECK(!strcmp(o.config.name, "test"));
}

TEST(processes_given_makes_the_group_multiprocess_even_for_one)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "processes=3") == NULL);
    CHECK(o.processes == 3 && o.config.multiprocess);
    CHECK(one(&o, "processes=1") == NULL);
    CHECK(o.processes == 1 && o.processes_given && o.config.multiprocess);
}

TEST(numbers_outside_their_range_are_refused_with_the_range)
{
    swiftwsgi_daemon_options_t o;
    const char *err = one(&o, "threads=4097");
    CHECK(CONTAINS(err, "WSGIDaemonProcess: threads= must be a number from 0 to 4096 (threads), not '4097'"));
    CHECK(one(&o, "threads=0") == NULL && o.config.threads == 0);
    CHECK(CONTAINS(one(&o, "processes=0"), "processes= must be a number from 1 to 1024"));
}

TEST(numbers_with_trailing_text_or_empty_are_refused)
{
    swiftwsgi_daemon_options_t o;
    CHECK(CONTAINS(one(&o, "threads=5x"), "not '5x'"));
    CHECK(CONTAINS(one(&o, "threads="), "threads= must be"));
    CHECK(CONTAINS(one(&o, "maximum-requests=99999999999999999999999"), "maximum-requests= must be"));
}

TEST(zero_keeps_the_default_where_mod_wsgi_allows_it)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "connect-timeout=0") == NULL && o.connect_timeout == 15);
    CHECK(one(&o, "header-buffer-size=0") == NULL && o.header_buffer_size == 32768);
    CHECK(CONTAINS(one(&o, "connect-timeout=-1"), "must be 0 (the default) or a number from 1 to 3600 (seconds)"));
    CHECK(CONTAINS(one(&o, "header-buffer-size=100"), "from 8192"));
}

TEST(long_and_size_options_take_their_full_range)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "maximum-requests=1099511627776") == NULL && o.config.maximum_requests == 1L << 40);
    CHECK(one(&o, "maximum-requests=1099511627777") != NULL);
    CHECK(one(&o, "response-buffer-size=1073741824") == NULL && o.response_buffer_size == (size_t)1 << 30);
    CHECK(one(&o, "response-buffer-size=0") == NULL && o.response_buffer_size == 8 * 1024 * 1024);
    CHECK(one(&o, "stack-size=65535") != NULL);
    CHECK(CONTAINS(one(&o, "memory-limit=1000"), "memory-limit= must be"));
}

TEST(umask_is_octal)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "umask=022") == NULL && o.umask == 022);
    CHECK(CONTAINS(one(&o, "umask=8"), "umask= must be an octal mask, not '8'"));
    CHECK(one(&o, "umask=1000") != NULL);
}

TEST(paths_must_be_absolute)
{
    swiftwsgi_daemon_options_t o;
    CHECK(CONTAINS(one(&o, "home=srv/app"), "home= must be an absolute path, not 'srv/app'"));
    CHECK(one(&o, "home=/srv/app") == NULL && !strcmp(o.home, "/srv/app"));
    CHECK(one(&o, "chroot=jail") != NULL);
}

TEST(switch_interval_is_a_positive_number_of_seconds)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "switch-interval=0.005") == NULL && o.switch_interval == 0.005);
    CHECK(CONTAINS(one(&o, "switch-interval=0"), "must be a positive number of seconds"));
    CHECK(one(&o, "switch-interval=abc") != NULL);
    CHECK(one(&o, "switch-interval=3601") != NULL);
}

TEST(flags_are_on_or_off_in_any_case)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "server-metrics=on") == NULL && o.server_metrics == 1);
    CHECK(one(&o, "server-metrics=OFF") == NULL && o.server_metrics == 0);
    CHECK(CONTAINS(one(&o, "server-metrics=yes"), "must be On or Off, not 'yes'"));
}

TEST(unknown_or_malformed_options_are_named)
{
    swiftwsgi_daemon_options_t o;
    CHECK(CONTAINS(one(&o, "bogus=1"), "WSGIDaemonProcess: unknown option 'bogus'"));
    CHECK(CONTAINS(one(&o, "threads"), "invalid option 'threads' (expected name=value)"));
    CHECK(CONTAINS(one(&o, "=5"), "expected name=value"));
    /* A prefix of a known name is not that option. */
    CHECK(CONTAINS(one(&o, "thread=5"), "unknown option 'thread'"));
}

TEST(user_must_exist_and_not_be_root)
{
    swiftwsgi_daemon_options_t o;
    CHECK(CONTAINS(one(&o, "user=root"), "may not run as root"));
    CHECK(CONTAINS(one(&o, "user=#0"), "may not run as root"));
    CHECK(CONTAINS(one(&o, "user=no-such-user-here"), "user=: no user 'no-such-user-here'"));
    CHECK(CONTAINS(one(&o, "user=#12x"), "is not a numeric id"));
    CHECK(one(&o, "user=www-data") == NULL && o.uid == 33 && !strcmp(o.user, "www-data"));
}

TEST(group_takes_any_numeric_id_but_names_must_exist)
{
    swiftwsgi_daemon_options_t o;
    CHECK(one(&o, "group=#54321") == NULL && o.gid == 54321);
    CHECK(CONTAINS(one(&o, "group=no-such-group-here"), "no group 'no-such-group-here'"));
    CHECK(one(&o, "script-group=#54321") != NULL);  /* script-group=#gid must exist */
    CHECK(CONTAINS(one(&o, "supplementary-groups=www-data,no-such-group-here"), "no group 'no-such-group-here'"));
}

TEST(script_user_and_script_group_together_are_refused)
{
    swiftwsgi_daemon_options_t o;
    const char *options[] = { "script-user=www-data", "script-group=www-data", NULL };
    CHECK(parse(&o, options) == NULL);
    CHECK(CONTAINS(swiftwsgi_daemon_options_check(pool, &o), "only one of script-user= and script-group="));
    CHECK(one(&o, "script-user=www-data") == NULL && swiftwsgi_daemon_options_check(pool, &o) == NULL);
}

TEST(string_values_are_copied)
{
    swiftwsgi_daemon_options_t o;
    char option[] = "display-name=%{GROUP}";
    CHECK(one(&o, option) == NULL);
    option[13] = 'X';
    CHECK(!strcmp(o.display_name, "%{GROUP}"));
}

int main(void)
{
    apr_initialize();
    apr_pool_create(&pool, NULL);
    RUN(defaults_are_mod_wsgis);
    RUN(processes_given_makes_the_group_multiprocess_even_for_one);
    RUN(numbers_outside_their_range_are_refused_with_the_range);
    RUN(numbers_with_trailing_text_or_empty_are_refused);
    RUN(zero_keeps_the_default_where_mod_wsgi_allows_it);
    RUN(long_and_size_options_take_their_full_range);
    RUN(umask_is_octal);
    RUN(paths_must_be_absolute);
    RUN(switch_interval_is_a_positive_number_of_seconds);
    RUN(flags_are_on_or_off_in_any_case);
    RUN(unknown_or_malformed_options_are_named);
    RUN(user_must_exist_and_not_be_root);
    RUN(group_takes_any_numeric_id_but_names_must_exist);
    RUN(script_user_and_script_group_together_are_refused);
    RUN(string_values_are_copied);
    apr_pool_destroy(pool);
    apr_terminate();
    return FINISH();
}
