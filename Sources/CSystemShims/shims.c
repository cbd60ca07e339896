/* Only headers: see include/csystem_shims.h. */
