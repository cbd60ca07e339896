/*
 * swiftwsgi_handshake.c — the first call across the ABI. Apache unloads and reloads this module
 * at every configuration load, but the Swift library is never unloaded (FIELD-NOTES): after an
 * upgrade followed by a graceful restart, the new module runs against the library loaded at
 * start. Nothing may cross before the library has agreed to this module's ABI version and
 * struct sizes; a library that predates the handshake (it lacks the symbol: every library
 * function but swiftwsgi_abi_version is a weak reference here) is refused too.
 */
#include "swiftwsgi_handshake.h"
#include "swiftwsgi_abi.h"
#include "swiftwsgi_log.h"

#include <dlfcn.h>

#include "http_log.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

/* 0: not made since this module was loaded; 1: agreed; -1: refused (reason in refusal). */
static int state;
static char refusal[1024];

/* Where the library this process runs was loaded from. */
static const char *library_path(void)
{
    Dl_info info;
    if (dladdr((void *)swiftwsgi_abi_version, &info) && info.dli_fname) return info.dli_fname;
    return "the Swift host library";
}

const char *swiftwsgi_handshake(void)
{
    size_t sizes[64], count = 0;
    char reason[512];

    while (count < sizeof(sizes) / sizeof(sizes[0]) && (sizes[count] = swiftwsgi_abi_struct_size(count, NULL)) > 0)
        count++;
    reason[0] = '\0';
    if (swiftwsgi_abi_handshake) {
        if (swiftwsgi_abi_handshake(SWIFTWSGI_ABI_VERSION, sizes, count, reason, sizeof(reason)) == 0) {
            state = 1;
            return NULL;
        }
    }
    else
        apr_snprintf(reason, sizeof(reason), "the Swift host library speaks ABI %d (it predates the "
                     "handshake), this module ABI %d", swiftwsgi_abi_version(), SWIFTWSGI_ABI_VERSION);
    apr_snprintf(refusal, sizeof(refusal),
                 "mod_swiftwsgi: %s does not match this module: %s. The library loaded first stays in "
                 "Apache until it stops (it is never unloaded, so a graceful restart keeps it): stop "
                 "Apache and start it again (apachectl stop, then apachectl start; not graceful or "
                 "restart), with the module and its library installed from the same build",
                 library_path(), reason);
    state = -1;
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, NULL, SWIFTWSGI_LOGNO(0910) "%s", refusal);
    return refusal;
}

const char *swiftwsgi_abi_refusal(void)
{
    if (state == 0) return swiftwsgi_handshake();
    return state > 0 ? NULL : refusal;
}
