/**
 * swiftwsgi_environ.h — the WSGI environ's Apache part, and what every call into a script
 * carries.
 */
#ifndef SWIFTWSGI_ENVIRON_H
#define SWIFTWSGI_ENVIRON_H

#include "httpd.h"

#include "swiftwsgi_abi.h"

/**
 * Builds the WSGI environ's Apache part: subprocess_env after ap_add_common_vars and
 * ap_add_cgi_vars (SCRIPT_NAME without a trailing '/', PATH_INFO always present),
 * HTTP_AUTHORIZATION with WSGIPassAuthorization On, wsgi.url_scheme and mod_wsgi.* keys.
 * @param handler_script the WSGIHandlerScript that serves r, or ""
 * @return an array of swiftwsgi_kv_t from r->pool
 */
apr_array_header_t *swiftwsgi_environ(request_rec *r, const char *handler_script);

/** The same for an authentication, access or dispatch script: without PATH_TRANSLATED (which
 *  needs a subrequest, and these run inside Apache's access checks). */
apr_array_header_t *swiftwsgi_script_environ(request_rec *r);

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
