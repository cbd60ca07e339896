/* The ABI lives in include/swiftwsgi_abi.h; this file only makes the target buildable. */
