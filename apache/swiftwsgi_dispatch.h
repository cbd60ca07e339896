/**
 * swiftwsgi_dispatch.h — WSGIDispatchScript: a script that picks, per request, the process
 * group, application group and callable object.
 */
#ifndef SWIFTWSGI_DISPATCH_H
#define SWIFTWSGI_DISPATCH_H

#include "httpd.h"

/**
 * Runs r's WSGIDispatchScript, if any, replacing each of the three values it answers for.
 * A script that cannot be stat'ed or does not load leaves them (logged), as in mod_wsgi.
 * @param process_group receives the answer expanded (%{GLOBAL}, %{ENV:name})
 * @return OK, or HTTP_INTERNAL_SERVER_ERROR when the script failed (logged)
 */
int swiftwsgi_dispatch_request(request_rec *r, const char **application_group, const char **callable_object,
                               const char **process_group);

#endif
