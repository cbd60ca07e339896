/**
 * swiftwsgi_handler.h — mapping URLs to scripts (WSGIScriptAlias) and running them.
 */
#ifndef SWIFTWSGI_HANDLER_H
#define SWIFTWSGI_HANDLER_H

#include "httpd.h"

#include "swiftwsgi_abi.h"

/** translate_name: maps a URL under a WSGIScriptAlias to its script. */
int swiftwsgi_hook_translate_name(request_rec *r);

/** handler: runs a wsgi-script / application/x-httpd-wsgi request in the Swift host. */
int swiftwsgi_hook_handler(request_rec *r);

/**
 * Builds the WSGI environ's Apache part: subprocess_env after ap_add_common_vars and
 * ap_add_cgi_vars (SCRIPT_NAME without a trailing '/', PATH_INFO always present),
 * HTTP_AUTHORIZATION with WSGIPassAuthorization On, wsgi.url_scheme and mod_wsgi.* keys.
 * @return an array of swiftwsgi_kv_t from r->pool
 */
apr_array_header_t *swiftwsgi_environ(request_rec *r);
/** The same without PATH_TRANSLATED when path_translated is 0 (no subrequest: for the
 *  authentication and access scripts, which run inside Apache's access checks). */
apr_array_header_t *swiftwsgi_environ_ex(request_rec *r, int path_translated);

/**
 * Fills what every call into a script carries.
 * @param handle the swiftwsgi_io_t of the call
 * @param env the environ (swiftwsgi_kv_t, from swiftwsgi_environ)
 * @param application_group the unexpanded spec (the getters' default applied)
 */
void swiftwsgi_fill_script_call(swiftwsgi_script_call_t *call, request_rec *r, void *handle,
                                const apr_array_header_t *env, const char *script, apr_time_t mtime,
                                const char *application_group);

#endif
