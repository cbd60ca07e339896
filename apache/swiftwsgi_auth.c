/*
 * swiftwsgi_auth.c — authentication, group and access scripts. Each provider builds the WSGI
 * environ and asks the Swift host to call the script's function; a failing script answers
 * with an error (500), never with a grant.
 */
#include "swiftwsgi_auth.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_environ.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_abi.h"

#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "mod_auth.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

/* What a script answered: the realm hash or group names. */
typedef struct {
    request_rec *r;
    apr_array_header_t *values;          /* const char * */
} auth_values_t;

static void add_value(void *context, const char *value)
{
    auth_values_t *v = context;
    *(const char **)apr_array_push(v->values) = apr_pstrdup(v->r->pool, value);
}

/* Calls kind in script for r; values (set up here, whatever the outcome) receives what the
 * script answered. A script that cannot be stat'ed is an error. */
static swiftwsgi_auth_result_t call_script(request_rec *r, const swiftwsgi_script_t *script, int kind,
                                           const char *user, const char *argument, auth_values_t *values)
{
    swiftwsgi_auth_request_t request;
    swiftwsgi_io_t io;
    apr_finfo_t finfo;
    apr_status_t rv;

    memset(values, 0, sizeof(*values));
    values->r = r;
    values->values = apr_array_make(r->pool, 4, sizeof(const char *));
    if ((rv = apr_stat(&finfo, script->path, APR_FINFO_MTIME, r->pool)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, SWIFTWSGI_LOGNO(0920)
                      "Target WSGI authentication script not found or unable to stat: %s", script->path);
        return SWIFTWSGI_AUTH_ERROR;
    }
    memset(&io, 0, sizeof(io));
    io.r = r;
    io.body_done = 1;

    memset(&request, 0, sizeof(request));
    swiftwsgi_fill_script_call(&request.call, r, &io, swiftwsgi_script_environ(r), script->path, finfo.mtime,
                               script->application_group);
    request.kind = kind;
    request.user = user;
    request.argument = argument;
    request.add_value = add_value;
    request.context = values;
    return (swiftwsgi_auth_result_t)swiftwsgi_auth(&request);
}

static authn_status check_password(request_rec *r, const char *user, const char *password)
{
    const swiftwsgi_script_t *script = swiftwsgi_auth_user_script(r);
    auth_values_t values;
    if (!script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0921)
                      "AuthBasicProvider wsgi needs a WSGIAuthUserScript for %s", r->uri);
        return AUTH_GENERAL_ERROR;
    }
    switch (call_script(r, script, SWIFTWSGI_AUTH_CHECK_PASSWORD, user, password, &values)) {
    case SWIFTWSGI_AUTH_GRANTED: return AUTH_GRANTED;
    case SWIFTWSGI_AUTH_DENIED: return AUTH_DENIED;
    case SWIFTWSGI_AUTH_NOT_FOUND: return AUTH_USER_NOT_FOUND;
    default: return AUTH_GENERAL_ERROR;
    }
}

static authn_status get_realm_hash(request_rec *r, const char *user, const char *realm, char **hash)
{
    const swiftwsgi_script_t *script = swiftwsgi_auth_user_script(r);
    auth_values_t values;
    if (!script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0922)
                      "AuthDigestProvider wsgi needs a WSGIAuthUserScript for %s", r->uri);
        return AUTH_GENERAL_ERROR;
    }
    switch (call_script(r, script, SWIFTWSGI_AUTH_GET_REALM_HASH, user, realm, &values)) {
    case SWIFTWSGI_AUTH_GRANTED:
        if (values.values->nelts != 1) return AUTH_GENERAL_ERROR;
        *hash = ((char **)values.values->elts)[0];
        return AUTH_USER_FOUND;
    case SWIFTWSGI_AUTH_NOT_FOUND: return AUTH_USER_NOT_FOUND;
    case SWIFTWSGI_AUTH_DENIED: return AUTH_DENIED;
    default: return AUTH_GENERAL_ERROR;
    }
}

static authz_status check_group(request_rec *r, const char *require_line, const void *parsed)
{
    const swiftwsgi_script_t *script = swiftwsgi_auth_group_script(r);
    auth_values_t values;
    const char *line = require_line, *wanted;
    int i;
    (void)parsed;
    if (!r->user) return AUTHZ_DENIED_NO_USER;
    if (!script) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0923)
                      "Require wsgi-group needs a WSGIAuthGroupScript for %s", r->uri);
        return AUTHZ_GENERAL_ERROR;
    }
    switch (call_script(r, script, SWIFTWSGI_AUTH_GROUPS_FOR_USER, r->user, NULL, &values)) {
    case SWIFTWSGI_AUTH_GRANTED:
    case SWIFTWSGI_AUTH_NOT_FOUND:
        break;
    case SWIFTWSGI_AUTH_DENIED:
        return AUTHZ_DENIED;
    default:
        return AUTHZ_GENERAL_ERROR;
    }
    while (*(wanted = ap_getword_conf(r->pool, &line))) {
        for (i = 0; i < values.values->nelts; i++) {
            if (!strcmp(wanted, ((const char **)values.values->elts)[i])) return AUTHZ_GRANTED;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, SWIFTWSGI_LOGNO(0924)
                  "user '%s' is in none of the groups required by 'Require wsgi-group %s'", r->user, require_line);
    return swiftwsgi_group_authoritative(r) ? AUTHZ_DENIED : AUTHZ_NEUTRAL;
}

static int check_access(request_rec *r)
{
    const swiftwsgi_script_t *script = swiftwsgi_access_script(r);
    auth_values_t values;
    const char *host;
    if (!script) return DECLINED;
    host = ap_get_useragent_host(r, REMOTE_HOST, NULL);
    switch (call_script(r, script, SWIFTWSGI_AUTH_ALLOW_ACCESS, NULL, host ? host : r->useragent_ip, &values)) {
    case SWIFTWSGI_AUTH_GRANTED: return OK;
    case SWIFTWSGI_AUTH_NOT_FOUND: return DECLINED;
    case SWIFTWSGI_AUTH_DENIED:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0925)
                      "client denied by WSGIAccessScript '%s': %s", script->path, r->uri);
        return HTTP_FORBIDDEN;
    default: return HTTP_INTERNAL_SERVER_ERROR;
    }
}

static const authn_provider authn = { check_password, get_realm_hash };
static const authz_provider authz = { check_group, NULL };

void swiftwsgi_auth_register(apr_pool_t *p)
{
    static const char *const after_ssl[] = { "mod_ssl.c", NULL };
    static const char *const before_authz_host[] = { "mod_authz_host.c", NULL };
    ap_register_auth_provider(p, AUTHN_PROVIDER_GROUP, "wsgi", AUTHN_PROVIDER_VERSION, &authn,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "wsgi-group", AUTHZ_PROVIDER_VERSION, &authz,
                              AP_AUTH_INTERNAL_PER_CONF);
    /* mod_wsgi's place: the access_checker phase (every hook runs; an OK here does not skip
     * authentication or Require as an access_checker_ex hook's would), after mod_ssl's. */
    ap_hook_access_checker(check_access, after_ssl, before_authz_host, APR_HOOK_MIDDLE);
}
