/**
 * swiftwsgi_log.h — this module's message ids. httpd's APLOGNO numbers belong to httpd's own
 * registry (a module taking AH109xx would collide with httpd's future messages), so every log
 * call of mod_swiftwsgi carries SWIFTWSGI_LOGNO(nnnn) instead: "SWW" and four digits, e.g.
 * "SWW0920: ". Numbers are never reused; the next free one is the highest in apache/ plus one.
 */
#ifndef SWIFTWSGI_LOG_H
#define SWIFTWSGI_LOG_H

/** "SWWnnnn: " — n is written with its four digits, e.g. SWIFTWSGI_LOGNO(0920). */
#define SWIFTWSGI_LOGNO(n) "SWW" #n ": "

#endif
