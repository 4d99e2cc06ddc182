/*
 * sockopts.c - chapter 07's option table, asked again from C.
 *
 * The course builds its live table of socket options in Python
 * (sockcourse.kernel.options.probe_all). This program asks the same kernel
 * the same questions with getsockopt(2) straight from C, on a fresh TCP
 * socket that is never bound or connected, so the two tables can be laid
 * side by side: if Python's socket module added or hid anything, they would
 * differ.
 *
 *     sockopts
 *
 * It opens no connection and sends nothing. For every option it prints one
 * line, "NAME VALUE" or "NAME errno ERRNAME", where VALUE is
 *   an int                      for the int options,
 *   "ON SECONDS"                for SO_LINGER (struct linger),
 *   "SECONDS MICROSECONDS"      for SO_RCVTIMEO and SO_SNDTIMEO (struct timeval),
 *   "LENGTH bytes"              for TCP_INFO (the length the kernel filled in),
 * and "NAME missing" for an option this system's headers do not define.
 */

/* SO_REUSEPORT and the TCP_KEEP* options are outside strict ISO C: ask for the system's own names. */
#define _DEFAULT_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum kind { AN_INT, A_LINGER, A_TIMEVAL, A_STRUCT };

struct option {
    const char *name;
    int level;
    int number;      /* -1: this system has no such option */
    enum kind kind;
};

/* Options some systems lack; written so the program still builds there. */
#ifndef SO_REUSEPORT
#define SO_REUSEPORT -1
#endif
#ifndef SO_USELOOPBACK
#define SO_USELOOPBACK -1
#endif
#ifndef TCP_KEEPIDLE
#define TCP_KEEPIDLE -1
#endif
#ifndef TCP_INFO
#define TCP_INFO -1
#endif

static const struct option OPTIONS[] = {
    {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, AN_INT},
    {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, AN_INT},
    {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, AN_INT},
    {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, AN_INT},
    {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, AN_INT},
    {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, AN_INT},
    {"SO_LINGER", SOL_SOCKET, SO_LINGER, A_LINGER},
    {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, AN_INT},
    {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, AN_INT},
    {"SO_RCVTIMEO", SOL_SOCKET, SO_RCVTIMEO, A_TIMEVAL},
    {"SO_SNDTIMEO", SOL_SOCKET, SO_SNDTIMEO, A_TIMEVAL},
    {"SO_TYPE", SOL_SOCKET, SO_TYPE, AN_INT},
    {"SO_ERROR", SOL_SOCKET, SO_ERROR, AN_INT},
    {"SO_BROADCAST", SOL_SOCKET, SO_BROADCAST, AN_INT},
    {"SO_DONTROUTE", SOL_SOCKET, SO_DONTROUTE, AN_INT},
    {"SO_OOBINLINE", SOL_SOCKET, SO_OOBINLINE, AN_INT},
    {"SO_RCVLOWAT", SOL_SOCKET, SO_RCVLOWAT, AN_INT},
    {"SO_SNDLOWAT", SOL_SOCKET, SO_SNDLOWAT, AN_INT},
    {"SO_USELOOPBACK", SOL_SOCKET, SO_USELOOPBACK, AN_INT},
    {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, AN_INT},
    {"TCP_INFO", IPPROTO_TCP, TCP_INFO, A_STRUCT},
};

/* errno as its name, for the handful getsockopt() can give here. */
static const char *errno_name(int code)
{
    switch (code) {
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case EFAULT: return "EFAULT";
    default: return strerror(code);
    }
}

static void ask(int fd, const struct option *opt)
{
    unsigned char raw[512];
    socklen_t length = sizeof raw;

    if (opt->number < 0) {
        printf("%s missing\n", opt->name);
        return;
    }
    memset(raw, 0, sizeof raw);
    if (opt->kind == AN_INT)
        length = sizeof(int);
    else if (opt->kind == A_LINGER)
        length = sizeof(struct linger);
    else if (opt->kind == A_TIMEVAL)
        length = sizeof(struct timeval);
    if (getsockopt(fd, opt->level, opt->number, raw, &length) < 0) {
        printf("%s errno %s\n", opt->name, errno_name(errno));
        return;
    }
    if (opt->kind == AN_INT) {
        int value;
        memcpy(&value, raw, sizeof value);
        printf("%s %d\n", opt->name, value);
    } else if (opt->kind == A_LINGER) {
        struct linger value;
        memcpy(&value, raw, sizeof value);
        printf("%s %d %d\n", opt->name, value.l_onoff, value.l_linger);
    } else if (opt->kind == A_TIMEVAL) {
        struct timeval value;
        memcpy(&value, raw, sizeof value);
        printf("%s %ld %ld\n", opt->name, (long)value.tv_sec, (long)value.tv_usec);
    } else {
        printf("%s %u bytes\n", opt->name, (unsigned)length);
    }
}

int main(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    for (size_t i = 0; i < sizeof OPTIONS / sizeof OPTIONS[0]; i++)
        ask(fd, &OPTIONS[i]);
    close(fd);
    return 0;
}
