/**
 * swiftwsgi_auth.h — Python code in Apache's own request processing: the authn provider
 * `wsgi` (WSGIAuthUserScript), the authz provider `wsgi-group` (WSGIAuthGroupScript) and a
 * host access checker (WSGIAccessScript).
 */
#ifndef SWIFTWSGI_AUTH_H
#define SWIFTWSGI_AUTH_H

#include "httpd.h"

/** Registers the providers and the access checker (from register_hooks). */
void swiftwsgi_auth_register(apr_pool_t *p);

#endif
