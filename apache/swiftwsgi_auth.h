/**
 * swiftwsgi_auth.h — Python code in Apache's own request processing: the authn provider
 * `wsgi` (WSGIAuthUserScript), the authz provider `wsgi-group` (WSGIAuthGroupScript) and a
 * host access checker (WSGIAccessScript).
 */
#ifndef SWIFTWSGI_AUTH_H
#define SWIFTWSGI_AUTH_H

#include "httpd.h"

#include "swiftwsgi_abi.h"
#include "swiftwsgi_config.h"

/**
 * Calls a function of an authentication, access or dispatch script for r.
 * @param kind a swiftwsgi_auth_kind_t
 * @param values receives the values the script answered with (const char *)
 * @return a swiftwsgi_auth_result_t
 */
swiftwsgi_auth_result_t swiftwsgi_call_script(request_rec *r, const swiftwsgi_script_t *script, int kind,
                                              const char *user, const char *argument, apr_array_header_t *values);

/** Registers the providers and the access checker (from register_hooks). */
void swiftwsgi_auth_register(apr_pool_t *p);

#endif
