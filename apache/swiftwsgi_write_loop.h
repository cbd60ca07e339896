/**
 * swiftwsgi_write_loop.h — a body write of any size cut into the int-sized pieces that Apache's
 * ap_rwrite takes (its length is an int: a 2 GiB chunk cast to int would be negative). Pure
 * logic, without Apache: Tests/c/test_write_loop.c tests it at the INT_MAX boundaries.
 */
#ifndef SWIFTWSGI_WRITE_LOOP_H
#define SWIFTWSGI_WRITE_LOOP_H

#include <stddef.h>

/** Writes `n` bytes starting `offset` bytes into the caller's data; returns how many it wrote
 *  (as ap_rwrite: n, or a negative value on failure). */
typedef int (*swiftwsgi_piece_writer_t)(void *context, size_t offset, int n);

/**
 * Calls write(context, offset, n) for consecutive pieces of at most `max_piece` bytes (1 to
 * INT_MAX) until `len` bytes went out.
 * @return 0 when every piece was written, -1 as soon as one was not (or max_piece is invalid)
 */
int swiftwsgi_write_loop(size_t len, size_t max_piece, swiftwsgi_piece_writer_t write, void *context);

#endif
