/*
 * libFuzzer target for the WSGIDaemonProcess option parser (apache/swiftwsgi_daemon_options.c:
 * the option table and its pure parser, which needs only APR and libc). make fuzz builds it
 * with AddressSanitizer and UndefinedBehaviorSanitizer as build-fuzz/daemon-options.
 *
 * One input is one WSGIDaemonProcess line's options, one per line (so a value may hold spaces,
 * as a quoted word does in httpd.conf): each goes through swiftwsgi_daemon_option as the
 * directive's setter passes it, then the options are finished and checked as a whole.
 */
#include "swiftwsgi_daemon_options.h"

#include "apr_general.h"
#include "apr_strings.h"

#include <stdint.h>
#include <string.h>

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    swiftwsgi_daemon_options_t o;
    char *text, *option, *end, *next;
    const char *err;

    apr_pool_create(&p, root);
    text = apr_pstrmemdup(p, (const char *)data, size);
    end = text + size;
    swiftwsgi_daemon_options_init(&o, "fuzz");
    for (option = text; option < end; option = next + 1) {
        next = memchr(option, '\n', (size_t)(end - option));
        if (!next) next = end;
        *next = '\0';
        err = swiftwsgi_daemon_option(p, &o, option);
        if (err && !strstr(err, "WSGIDaemonProcess")) __builtin_trap();  /* every error names the directive */
    }
    swiftwsgi_daemon_options_finish(&o);
    err = swiftwsgi_daemon_options_check(p, &o);
    if (err && !strstr(err, "WSGIDaemonProcess")) __builtin_trap();
    apr_pool_destroy(p);
    return 0;
}
