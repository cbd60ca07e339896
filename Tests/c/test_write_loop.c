/*
 * test_write_loop.c — swiftwsgi_write_loop (apache/swiftwsgi_write_loop.c): a body write of any
 * size reaches ap_rwrite as int-sized pieces, at and around the INT_MAX and UINT32_MAX
 * boundaries (the writer here records offsets and lengths; no byte is touched).
 */
#include "check.h"
#include "swiftwsgi_write_loop.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    size_t offsets[16];
    int lengths[16];
    int calls;
    int fail_at;    /* the call (1-based) that fails, 0 for none */
    int short_by;   /* that call writes this many bytes fewer instead of failing */
} recorder_t;

static int record(void *context, size_t offset, int n)
{
    recorder_t *r = context;
    if (r->calls < 16) {
        r->offsets[r->calls] = offset;
        r->lengths[r->calls] = n;
    }
    r->calls++;
    if (r->fail_at == r->calls) return r->short_by ? n - r->short_by : -1;
    return n;
}

static recorder_t run(size_t len, size_t max_piece, int *rc)
{
    recorder_t r;
    memset(&r, 0, sizeof r);
    *rc = swiftwsgi_write_loop(len, max_piece, record, &r);
    return r;
}

/* The pieces cover [0, len) in order, each at most max and none empty. */
static int covers(const recorder_t *r, size_t len, size_t max)
{
    size_t next = 0;
    int i;
    for (i = 0; i < r->calls && i < 16; i++) {
        if (r->offsets[i] != next || r->lengths[i] <= 0 || (size_t)r->lengths[i] > max) return 0;
        next += (size_t)r->lengths[i];
    }
    return next == len;
}

TEST(nothing_to_write_makes_no_call)
{
    int rc;
    recorder_t r = run(0, INT_MAX, &rc);
    CHECK(rc == 0);
    CHECK(r.calls == 0);
}

TEST(int_max_bytes_are_one_piece)
{
    int rc;
    recorder_t r = run(INT_MAX, INT_MAX, &rc);
    CHECK(rc == 0);
    CHECK(r.calls == 1);
    CHECK(r.lengths[0] == INT_MAX);
}

TEST(int_max_plus_one_is_two_pieces)
{
    int rc;
    recorder_t r = run((size_t)INT_MAX + 1, INT_MAX, &rc);
    CHECK(rc == 0);
    CHECK(r.calls == 2);
    CHECK(r.lengths[0] == INT_MAX && r.offsets[1] == (size_t)INT_MAX && r.lengths[1] == 1);
}

TEST(two_gib_and_1000_bytes_are_int_max_then_the_rest)
{
    size_t len = ((size_t)2 << 30) + 1000;
    int rc;
    recorder_t r = run(len, INT_MAX, &rc);
    CHECK(rc == 0);
    CHECK(r.calls == 2);
    CHECK(r.lengths[0] == INT_MAX && r.lengths[1] == 1001);
    CHECK(covers(&r, len, INT_MAX));
}

TEST(uint32_max_and_beyond_are_covered_without_overflow)
{
    size_t lens[] = { UINT32_MAX, (size_t)UINT32_MAX + 1, (size_t)UINT32_MAX + 2, (size_t)3 * INT_MAX + 7 };
    size_t i;
    for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        int rc;
        recorder_t r = run(lens[i], INT_MAX, &rc);
        CHECK(rc == 0);
        CHECK(covers(&r, lens[i], INT_MAX));
    }
}

TEST(small_pieces_cover_the_write_in_order)
{
    int rc;
    recorder_t r = run(10, 3, &rc);
    CHECK(rc == 0);
    CHECK(r.calls == 4);
    CHECK(r.lengths[3] == 1 && r.offsets[3] == 9);
    CHECK(covers(&r, 10, 3));
}

TEST(a_failed_piece_stops_the_loop)
{
    recorder_t r;
    int rc;
    memset(&r, 0, sizeof r);
    r.fail_at = 2;
    rc = swiftwsgi_write_loop(10, 3, record, &r);
    CHECK(rc == -1);
    CHECK(r.calls == 2);
}

TEST(a_short_piece_is_a_failure)
{
    recorder_t r;
    int rc;
    memset(&r, 0, sizeof r);
    r.fail_at = 1;
    r.short_by = 1;
    rc = swiftwsgi_write_loop(10, 3, record, &r);
    CHECK(rc == -1);
    CHECK(r.calls == 1);
}

TEST(a_piece_size_an_int_cannot_hold_is_refused)
{
    int rc;
    recorder_t r = run(10, (size_t)INT_MAX + 1, &rc);
    CHECK(rc == -1 && r.calls == 0);
    r = run(10, 0, &rc);
    CHECK(rc == -1 && r.calls == 0);
}

int main(void)
{
    RUN(nothing_to_write_makes_no_call);
    RUN(int_max_bytes_are_one_piece);
    RUN(int_max_plus_one_is_two_pieces);
    RUN(two_gib_and_1000_bytes_are_int_max_then_the_rest);
    RUN(uint32_max_and_beyond_are_covered_without_overflow);
    RUN(small_pieces_cover_the_write_in_order);
    RUN(a_failed_piece_stops_the_loop);
    RUN(a_short_piece_is_a_failure);
    RUN(a_piece_size_an_int_cannot_hold_is_refused);
    return FINISH();
}
