/**
 * swiftwsgi_io.h — request I/O on request_rec for the Swift host: the swiftwsgi_ops_t table
 * (body reads through the input filters, status and headers, body writes, file buckets,
 * logging, aborting a connection).
 */
#ifndef SWIFTWSGI_IO_H
#define SWIFTWSGI_IO_H

#include "httpd.h"
#include "swiftwsgi_abi.h"

/** Per-request state behind the ABI's request handle. */
typedef struct {
    request_rec *r;
    apr_bucket_brigade *in;   /**< input read but not yet handed out */
    int body_started;         /**< ap_should_client_block ran (100 Continue sent) */
    int body_done;            /**< EOS seen, or the request has no body */
    int response_set;         /**< set_response ran: status and headers are Apache's */
    int length_declared;      /**< the response's headers had a Content-Length */
    apr_off_t declared_length;/**< its value */
    apr_off_t sent_length;    /**< body bytes handed to Apache (writes and files) */
} swiftwsgi_io_t;

/** @return the operations table for swiftwsgi_register_ops */
const swiftwsgi_ops_t *swiftwsgi_io_ops(void);

/**
 * Ends a response the handler reports as sent (status 0): a body shorter than its declared
 * Content-Length must not look complete, so the connection is aborted after what was sent, and
 * the log says why (HEAD, 1xx, 204 and 304 responses carry no body and are left alone).
 * @param script the script, for the log line
 * @return 1 when it aborted the connection, else 0 (the caller ends the response)
 */
int swiftwsgi_io_abort_if_short(swiftwsgi_io_t *io, const char *script);

/** Sets the server used for logging when no request is at hand (child_init). */
void swiftwsgi_io_set_server(server_rec *s);

#endif
