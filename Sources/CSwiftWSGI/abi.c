/* The ABI lives in include/ (swiftwsgi_abi.h and the headers it includes); this file only makes
 * the target buildable. */
