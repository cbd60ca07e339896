/*
 * swiftwsgi_dispatch.c — WSGIDispatchScript: builds the script's environ and asks the Swift
 * host to call it (swiftwsgi_dispatch), before the request handler picks its interpreter.
 */
#include "swiftwsgi_dispatch.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_config.h"
#include "swiftwsgi_environ.h"
#include "swiftwsgi_io.h"
#include "swiftwsgi_abi.h"

#include "http_log.h"
#include "apr_strings.h"

APLOG_USE_MODULE(wsgi);

typedef struct {
    request_rec *r;
    swiftwsgi_dispatch_answer_t answer;
} dispatch_answer_t;

static void set_answer(void *context, const swiftwsgi_dispatch_answer_t *answer)
{
    dispatch_answer_t *a = context;
    apr_pool_t *p = a->r->pool;
    a->answer.process_group = answer->process_group ? apr_pstrdup(p, answer->process_group) : NULL;
    a->answer.application_group = answer->application_group ? apr_pstrdup(p, answer->application_group) : NULL;
    a->answer.callable_object = answer->callable_object ? apr_pstrdup(p, answer->callable_object) : NULL;
}

int swiftwsgi_dispatch_request(request_rec *r, const char **application_group, const char **callable_object,
                               const char **process_group)
{
    const swiftwsgi_script_t *script = swiftwsgi_dispatch_script(r);
    swiftwsgi_dispatch_request_t request;
    dispatch_answer_t a;
    swiftwsgi_io_t io;
    apr_finfo_t finfo;
    apr_status_t rv;

    if (!script) return OK;
    if ((rv = apr_stat(&finfo, script->path, APR_FINFO_MTIME, r->pool)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, SWIFTWSGI_LOGNO(0920)
                      "Target WSGI dispatch script not found or unable to stat: %s", script->path);
        return OK;  /* no opinion: the defaults, as in mod_wsgi */
    }
    memset(&io, 0, sizeof(io));
    io.r = r;
    io.body_done = 1;
    memset(&a, 0, sizeof(a));
    a.r = r;
    memset(&request, 0, sizeof(request));
    swiftwsgi_fill_script_call(&request.call, r, &io, swiftwsgi_script_environ(r), script->path, finfo.mtime,
                               script->application_group);
    request.set_answer = set_answer;
    request.context = &a;
    switch (swiftwsgi_dispatch(&request)) {
    case SWIFTWSGI_DISPATCH_ANSWERED: break;
    case SWIFTWSGI_DISPATCH_NO_OPINION: return OK;
    default: return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (a.answer.application_group) *application_group = a.answer.application_group;
    if (a.answer.callable_object) *callable_object = a.answer.callable_object;
    if (a.answer.process_group) *process_group = swiftwsgi_expand_process_group(r, a.answer.process_group);
    return OK;
}
