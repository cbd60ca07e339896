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
 * Calls r's WSGIDispatchScript.
 * @param answer receives what the script answered (strings from r->pool; NULL where it has no
 *        answer)
 * @return SWIFTWSGI_AUTH_GRANTED, SWIFTWSGI_AUTH_NOT_FOUND when the script cannot be stat'ed
 *         (logged; the request goes on with the defaults, as in mod_wsgi) or SWIFTWSGI_AUTH_ERROR
 */
swiftwsgi_auth_result_t swiftwsgi_call_dispatch_script(request_rec *r, const swiftwsgi_script_t *script,
                                                       swiftwsgi_dispatch_answer_t *answer);

/** Registers the providers and the access checker (from register_hooks). */
void swiftwsgi_auth_register(apr_pool_t *p);

#endif
