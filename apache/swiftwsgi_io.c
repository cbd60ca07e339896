/*
 * swiftwsgi_io.c — the Apache side of the ABI: everything the Swift host does to a request.
 * Called with the GIL released.
 */
#include "swiftwsgi_io.h"
#include "swiftwsgi_log.h"
#include "swiftwsgi_write_loop.h"

#include <limits.h>

#include "http_protocol.h"
#include "http_request.h"
#include "http_log.h"
#include "scoreboard.h"
#include "util_filter.h"
#include "apr_strings.h"
#include "apr_buckets.h"

APLOG_USE_MODULE(wsgi);

static server_rec *main_server;

void swiftwsgi_io_set_server(server_rec *s) { main_server = s; }

static long io_read_body(swiftwsgi_request_handle_t h, char *buffer, size_t len, int *status)
{
    swiftwsgi_io_t *io = h;
    request_rec *r = io->r;
    apr_size_t got = 0;
    apr_status_t rv;

    *status = 0;
    if (!io->body_started) {
        io->body_started = 1;
        /* Sends "100 Continue" when the client asked for it. */
        if (!ap_should_client_block(r)) io->body_done = 1;
    }
    /* The first read blocks until some data arrives; what else is already there is taken
     * without blocking, so one call (and one GIL release in the host) moves as much as it can
     * while readline() never waits for more than the client has sent. */
    while (got < len) {
        apr_size_t n;
        if (APR_BRIGADE_EMPTY(io->in)) {
            if (io->body_done) break;
            rv = ap_get_brigade(r->input_filters, io->in, AP_MODE_READBYTES,
                                got == 0 ? APR_BLOCK_READ : APR_NONBLOCK_READ, len - got < 65536 ? 65536 : len - got);
            if (got > 0 && (rv != APR_SUCCESS || APR_BRIGADE_EMPTY(io->in))) {
                /* Nothing more now (or an error the next call will report). */
                apr_brigade_cleanup(io->in);
                break;
            }
            if (rv != APR_SUCCESS) {
                apr_brigade_cleanup(io->in);
                io->body_done = 1;
                r->connection->keepalive = AP_CONN_CLOSE;
                *status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
                return -1;
            }
            if (!APR_BRIGADE_EMPTY(io->in) && APR_BUCKET_IS_EOS(APR_BRIGADE_LAST(io->in))) {
                apr_bucket_delete(APR_BRIGADE_LAST(io->in));
                io->body_done = 1;
            }
        }
        n = len - got;
        rv = apr_brigade_flatten(io->in, buffer + got, &n);
        if (rv != APR_SUCCESS) {
            *status = HTTP_BAD_REQUEST;
            return -1;
        }
        /* Drop what was copied out. */
        {
            apr_bucket *split;
            if (apr_brigade_partition(io->in, n, &split) == APR_SUCCESS) {
                apr_bucket *b;
                while ((b = APR_BRIGADE_FIRST(io->in)) != split && b != APR_BRIGADE_SENTINEL(io->in))
                    apr_bucket_delete(b);
            }
            else {
                apr_brigade_cleanup(io->in);
            }
        }
        got += n;
        if (n == 0 && io->body_done) break;
    }
    return (long)got;
}

static int io_set_response(swiftwsgi_request_handle_t h, int status, const char *status_line,
                           const swiftwsgi_kv_t *headers, size_t count)
{
    swiftwsgi_io_t *io = h;
    request_rec *r = io->r;
    size_t i;

    io->response_set = 1;
    r->status = status;
    /* Apache wants "NNN reason"; a bare code gets Apache's own reason phrase. */
    r->status_line = strlen(status_line) > 4 ? apr_pstrdup(r->pool, status_line) : NULL;
    for (i = 0; i < count; i++) {
        const char *name = headers[i].name, *value = headers[i].value;
        if (!strcasecmp(name, "Content-Type")) {
            ap_set_content_type(r, apr_pstrdup(r->pool, value));
        }
        else if (!strcasecmp(name, "Content-Length")) {
            apr_off_t length;
            if (apr_strtoff(&length, value, NULL, 10) != APR_SUCCESS || length < 0) return -1;
            ap_set_content_length(r, length);
            io->length_declared = 1;
            io->declared_length = length;
        }
        else if (!strcasecmp(name, "WWW-Authenticate")) {
            /* As mod_wsgi: kept when Apache answers with its own error page (WSGIErrorOverride). */
            apr_table_add(r->err_headers_out, name, value);
        }
        else {
            apr_table_add(r->headers_out, name, value);
        }
    }
    return 0;
}

/* One piece of a body write for swiftwsgi_write_loop: ap_rwrite takes an int length. */
typedef struct {
    request_rec *r;
    const char *data;
} write_pieces_t;

static int write_piece(void *context, size_t offset, int n)
{
    write_pieces_t *w = context;
    return ap_rwrite(w->data + offset, n, w->r);
}

static void io_abort_connection(swiftwsgi_request_handle_t h);

/* A write that failed while the connection is still up (an output filter refused the data):
 * what follows must not end the response as if complete, so the connection is aborted, and
 * the log says why. A client that went away needs neither. Returns -1. */
static int write_failed(swiftwsgi_io_t *io, const char *what)
{
    request_rec *r = io->r;
    if (!r->connection->aborted) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0969)
                      "Failed to write response data (%s) with the client connection still open: "
                      "the connection is aborted so the response cannot look complete", what);
        io_abort_connection(io);
    }
    return -1;
}

static int io_write_body(swiftwsgi_request_handle_t h, const char *data, size_t len, int flush)
{
    swiftwsgi_io_t *io = h;
    request_rec *r = io->r;
    if (r->connection->aborted) return -1;
    if (len > 0) {
        write_pieces_t w = { r, data };
        if (swiftwsgi_write_loop(len, INT_MAX, write_piece, &w) != 0) return write_failed(io, "body");
        io->sent_length += (apr_off_t)len;
    }
    if (flush && ap_rflush(r) < 0) return write_failed(io, "flush");
    return r->connection->aborted ? -1 : 0;
}

static int io_send_file(swiftwsgi_request_handle_t h, int fd, int64_t offset, int64_t length,
                        int sendfile_enabled)
{
    swiftwsgi_io_t *io = h;
    request_rec *r = io->r;
    apr_file_t *file = NULL;
    apr_os_file_t os_fd = fd;
    apr_bucket_brigade *bb;
    apr_status_t rv;

    /* Anything written before (and the headers) goes first. */
    if (r->connection->aborted) return -1;
    if (ap_rflush(r) < 0) return write_failed(io, "flush before a file");
    rv = apr_os_file_put(&file, &os_fd, APR_FOPEN_READ | (sendfile_enabled ? APR_FOPEN_SENDFILE_ENABLED : 0),
                         r->pool);
    if (rv != APR_SUCCESS) return write_failed(io, "file descriptor");
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, file, (apr_off_t)offset, (apr_off_t)length, r->pool);
    /* Flushed before returning: the application may close the descriptor as soon as we do. */
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(r->connection->bucket_alloc));
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    if (r->connection->aborted) return -1;
    if (rv != APR_SUCCESS) return write_failed(io, "file");
    io->sent_length += (apr_off_t)length;
    return 0;
}

/* The host's lines carry their own ids (SWW1000-SWW1999, Sources/PythonHost/LogID.swift). */
static void io_log(swiftwsgi_request_handle_t h, int level, const char *message)
{
    swiftwsgi_io_t *io = h;
    if (io)
        ap_log_rerror(APLOG_MARK, level, 0, io->r, "%s", message);
    else if (main_server)
        ap_log_error(APLOG_MARK, level, 0, main_server, "%s", message);
}

static void io_abort_connection(swiftwsgi_request_handle_t h)
{
    swiftwsgi_io_t *io = h;
    request_rec *r = io->r;
    apr_bucket_brigade *bb;
    if (r->connection->aborted) return;
    /* What was written goes out first, after the application's status and headers: the error
     * bucket below would otherwise reach the header filter first and turn the response into a
     * complete-looking error page. */
    if (io->response_set && ap_rflush(r) < 0) {
        r->connection->keepalive = AP_CONN_CLOSE;
        r->connection->aborted = 1;
        return;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    r->connection->keepalive = AP_CONN_CLOSE;
    /* A 502 error bucket makes the chunk filter leave out the last chunk, so the client sees
     * a truncated response instead of a complete-looking one. */
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, r->pool,
                                                       r->connection->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    r->connection->aborted = 1;
}

int swiftwsgi_io_abort_if_short(swiftwsgi_io_t *io, const char *script)
{
    request_rec *r = io->r;
    if (!io->length_declared || io->sent_length >= io->declared_length || r->header_only
        || r->status < 200 || AP_STATUS_IS_HEADER_ONLY(r->status) || r->connection->aborted)
        return 0;
    /* As mod_wsgi's message (which it logs at debug level and leaves the connection open). */
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, SWIFTWSGI_LOGNO(0967)
                  "Content length mismatch, expected %" APR_OFF_T_FMT ", response generated %" APR_OFF_T_FMT
                  ": %s: the response is incomplete, so the connection is aborted",
                  io->declared_length, io->sent_length, script);
    io_abort_connection(io);
    return 1;
}

static int io_scoreboard(swiftwsgi_scoreboard_t *board,
                         void (*process)(void *context, const swiftwsgi_scoreboard_process_t *p),
                         void (*worker)(void *context, const swiftwsgi_scoreboard_worker_t *w),
                         void *context)
{
    static const char letters[SERVER_NUM_STATUS + 1] = ".S_RWKLDCGI";  /* as mod_status */
    global_score *g;
    int i, j;
    if (!ap_exists_scoreboard_image() || !(g = ap_get_scoreboard_global())) return -1;
    board->server_limit = g->server_limit;
    board->thread_limit = g->thread_limit;
    board->running_generation = g->running_generation;
    board->restart_time = g->restart_time;
    for (i = 0; i < g->server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        swiftwsgi_scoreboard_process_t p;
        p.process_num = i;
        p.pid = ps->pid;
        p.generation = ps->generation;
        p.quiescing = ps->quiescing != 0;
        process(context, &p);
        for (j = 0; j < g->thread_limit; j++) {
            worker_score *ws = ap_get_scoreboard_worker_from_indexes(i, j);
            swiftwsgi_scoreboard_worker_t w;
            w.process_num = i;
            w.thread_num = ws->thread_num;
            w.generation = ws->generation;
            w.status = ws->status < SERVER_NUM_STATUS ? letters[ws->status] : '?';
            w.access_count = ws->access_count;
            w.bytes_served = (uint64_t)ws->bytes_served;
            w.start_time = ws->start_time;
            w.stop_time = ws->stop_time;
            w.last_used = ws->last_used;
            w.client = ws->client;
            w.request = ws->request;
            w.vhost = ws->vhost;
            worker(context, &w);
        }
    }
    return 0;
}

static const swiftwsgi_ops_t ops = {
    io_read_body, io_set_response, io_write_body, io_send_file, io_log, io_abort_connection,
    io_scoreboard,
};

const swiftwsgi_ops_t *swiftwsgi_io_ops(void) { return &ops; }
