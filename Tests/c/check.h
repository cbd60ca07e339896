/*
 * check.h — the few macros the C unit tests share: CHECK(condition) records a failure with its
 * line and goes on; TEST(name) declares a test that main() runs with RUN(name); FINISH() prints
 * the closing "N passed, N failed" line and gives main's exit status.
 */
#ifndef SWIFTWSGI_CHECK_H
#define SWIFTWSGI_CHECK_H

#include <stdio.h>

static int check_failures_in_test;
static int check_passed, check_failed;

#define CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
            check_failures_in_test++; \
        } \
    } while (0)

#define TEST(name) static void name(void)

#define RUN(name) do { \
        check_failures_in_test = 0; \
        name(); \
        if (check_failures_in_test) { check_failed++; printf("FAIL %s\n", #name); } \
        else { check_passed++; printf("ok   %s\n", #name); } \
    } while (0)

#define FINISH() (printf("%d passed, %d failed\n", check_passed, check_failed), check_failed ? 1 : 0)

#endif
