/**
 * swiftwsgi_handshake.h — the ABI handshake with the Swift host library: its version and the
 * sizes of the structs that cross are checked before anything else crosses, at every
 * configuration load (see swiftwsgi_abi_handshake in swiftwsgi_abi.h).
 */
#ifndef SWIFTWSGI_HANDSHAKE_H
#define SWIFTWSGI_HANDSHAKE_H

#include "httpd.h"

/** Shakes hands with the library (again: at each configuration load, from pre_config). Returns
 *  NULL when it speaks this module's ABI, else the reason (logged once, with what to do). */
const char *swiftwsgi_handshake(void);

/** NULL once the handshake succeeded (making it when none was made yet), else its reason: every
 *  place that calls the library checks this first. */
const char *swiftwsgi_abi_refusal(void);

#endif
