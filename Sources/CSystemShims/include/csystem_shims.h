/*
 * csystem_shims.h — what Swift cannot import from the C library: the CMSG_* macros used to
 * pass a file descriptor over a unix socket (SCM_RIGHTS), accept4, and epoll (whose event
 * struct is packed on x86_64, which Swift cannot lay out).
 * Every symbol is prefixed csys_.
 */
#ifndef CSYSTEM_SHIMS_H
#define CSYSTEM_SHIMS_H

/* No _GNU_SOURCE here: it would change struct definitions (fd_set, ...) against Swift's Glibc
 * module. accept4 is declared by hand instead. */
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

/** Control-buffer size for one descriptor. */
static inline int csys_cmsg_space_fd(void) { return (int)CMSG_SPACE(sizeof(int)); }

/** Puts fd into msg's control buffer (msg_control/msg_controllen already set to the space). */
static inline void csys_cmsg_put_fd(struct msghdr *msg, int fd)
{
    struct cmsghdr *c = CMSG_FIRSTHDR(msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    msg->msg_controllen = c->cmsg_len;
}

/** The descriptor passed in msg, or -1. */
static inline int csys_cmsg_get_fd(struct msghdr *msg)
{
    struct cmsghdr *c;
    for (c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof(int));
            return fd;
        }
    }
    return -1;
}

extern int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/** accept4(fd, NULL, NULL, SOCK_CLOEXEC): accept4 is a GNU extension Glibc's module hides. */
static inline int csys_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

/** A new epoll instance (close-on-exec). */
static inline int csys_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

/** Adds (add != 0) or re-arms fd in epfd for input, tagged with token; oneshot: disarmed
 *  after one event until re-armed. */
static inline int csys_epoll_watch(int epfd, int fd, unsigned long long token, int add, int oneshot)
{
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | (oneshot ? EPOLLONESHOT : 0);
    ev.data.u64 = token;
    return epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
}

/** Waits for one event; its token goes to *token. Returns 1, 0 on timeout, -1 on error. */
static inline int csys_epoll_wait_one(int epfd, unsigned long long *token, int timeout_ms)
{
    struct epoll_event ev;
    int n = epoll_wait(epfd, &ev, 1, timeout_ms);
    if (n == 1) *token = ev.data.u64;
    return n;
}

/** A close-on-exec eventfd. */
static inline int csys_eventfd(void) { return eventfd(0, EFD_CLOEXEC); }

#endif
