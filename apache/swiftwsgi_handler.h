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

#endif
