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
} swiftwsgi_io_t;

/** @return the operations table for swiftwsgi_register_ops */
const swiftwsgi_ops_t *swiftwsgi_io_ops(void);

/** Sets the server used for logging when no request is at hand (child_init). */
void swiftwsgi_io_set_server(server_rec *s);

#endif
