/*
 * swiftwsgi_write_loop.c — a body write of any size as int-sized pieces (see the header).
 */
#include "swiftwsgi_write_loop.h"

#include <limits.h>

int swiftwsgi_write_loop(size_t len, size_t max_piece, swiftwsgi_piece_writer_t write, void *context)
{
    size_t offset = 0;
    if (max_piece == 0 || max_piece > INT_MAX) return -1;
    while (offset < len) {
        size_t left = len - offset;
        int n = (int)(left < max_piece ? left : max_piece);
        if (write(context, offset, n) != n) return -1;
        offset += (size_t)n;
    }
    return 0;
}
