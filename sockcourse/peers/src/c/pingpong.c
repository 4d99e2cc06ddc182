/*
 * pingpong.c - the course's round-trip measurement, in C, to compare Python with.
 *
 * It does what sockcourse.bench.ping_pong_rtt does in Python: a listening
 * socket on loopback, a second process (fork) that connects and echoes every
 * message straight back, and a loop here that sends SIZE bytes and waits for
 * all of them to come back, timing each round with CLOCK_MONOTONIC.
 *
 *     pingpong [--unix] [--rounds N] [--warmup W] [--size S]
 *
 * On success it prints one line of JSON on stdout:
 *     {"kind": "tcp", "size": 1, "rounds": N, "samples_ns": [...]}
 * and exits with 0; on failure it names the failing call on stderr and exits
 * with 1 (2 for bad arguments). Every blocking call has a time limit
 * (SO_RCVTIMEO, SO_SNDTIMEO, and alarm() for the whole run), so it never hangs.
 *
 * Only POSIX calls, so any C compiler on Linux, macOS or the BSDs builds it:
 *     cc -O2 -o pingpong pingpong.c
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1 /* glibc: mkdtemp and friends alongside POSIX */

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROUNDS 1000000L
#define MAX_SIZE (1L << 20)
#define IO_TIMEOUT_S 10
/* The whole run must end within this many seconds, whatever happens. */
#define RUN_LIMIT_S 120

/* A UNIX socket's file and folder, removed at exit even when a call fails. */
static char socket_path[108];
static char socket_dir[64];

static void remove_socket_file(void)
{
    if (socket_path[0])
        unlink(socket_path);
    if (socket_dir[0])
        rmdir(socket_dir);
}

static void die(const char *what)
{
    fprintf(stderr, "pingpong: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

static void set_timeouts(int fd)
{
    struct timeval limit = {IO_TIMEOUT_S, 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0)
        die("setsockopt(SO_RCVTIMEO)");
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0)
        die("setsockopt(SO_SNDTIMEO)");
}

static void no_delay(int fd)
{
    /* Nagle's algorithm would hold a 1-byte message back while an ACK is due. */
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        die("setsockopt(TCP_NODELAY)");
}

/* 1 when all `size` bytes arrived, 0 when the peer closed before the first. */
static int recv_exactly(int fd, char *buffer, long size)
{
    long got = 0;
    while (got < size) {
        ssize_t n = recv(fd, buffer + got, (size_t)(size - got), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("recv");
        }
        if (n == 0) {
            if (got == 0)
                return 0;
            errno = ECONNRESET;
            die("recv (the peer closed in the middle of a message)");
        }
        got += n;
    }
    return 1;
}

static void send_all(int fd, const char *buffer, long size)
{
    long sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, buffer + sent, (size_t)(size - sent), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("send");
        }
        sent += n;
    }
}

static long whole_number(const char *text, const char *option, long low, long high)
{
    char *end = NULL;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "pingpong: %s must be a whole number from %ld to %ld, but got '%s'; "
                        "for example %s %ld.\n", option, low, high, text, option, low);
        exit(2);
    }
    return value;
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The child: connect back to the parent and echo until it closes. */
static void echo_peer(int unix_kind, const struct sockaddr *address, socklen_t length, long size)
{
    int fd = socket(unix_kind ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket (peer)");
    set_timeouts(fd);
    if (connect(fd, address, length) < 0)
        die("connect (peer)");
    if (!unix_kind)
        no_delay(fd);
    char *buffer = malloc((size_t)size);
    if (buffer == NULL)
        die("malloc (peer)");
    for (long round = 0; round <= MAX_ROUNDS * 2; round++) {
        if (!recv_exactly(fd, buffer, size))
            break;
        send_all(fd, buffer, size);
    }
    free(buffer);
    close(fd);
    _exit(0);
}

int main(int argc, char **argv)
{
    int unix_kind = 0;
    long rounds = 10000, warmup = 20, size = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--unix") == 0)
            unix_kind = 1;
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = whole_number(argv[++i], "--rounds", 1, MAX_ROUNDS);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = whole_number(argv[++i], "--warmup", 0, MAX_ROUNDS);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = whole_number(argv[++i], "--size", 1, MAX_SIZE);
        else {
            fprintf(stderr, "pingpong: unknown argument '%s'; usage: pingpong [--unix] "
                            "[--rounds N] [--warmup W] [--size S]\n", argv[i]);
            return 2;
        }
    }
    alarm(RUN_LIMIT_S);

    struct sockaddr_in inet = {0};
    struct sockaddr_un local = {0};
    struct sockaddr *address;
    socklen_t length;
    char directory[] = "/tmp/sockcourse-ppXXXXXX";
    int listener = socket(unix_kind ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
    if (listener < 0)
        die("socket");
    if (unix_kind) {
        if (mkdtemp(directory) == NULL)
            die("mkdtemp");
        local.sun_family = AF_UNIX;
        snprintf(local.sun_path, sizeof local.sun_path, "%s/pp.sock", directory);
        snprintf(socket_dir, sizeof socket_dir, "%s", directory);
        snprintf(socket_path, sizeof socket_path, "%s", local.sun_path);
        atexit(remove_socket_file);
        address = (struct sockaddr *)&local;
        length = sizeof local;
    } else {
        inet.sin_family = AF_INET;
        inet.sin_port = 0; /* the kernel picks a free port */
        inet.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address = (struct sockaddr *)&inet;
        length = sizeof inet;
    }
    if (bind(listener, address, length) < 0)
        die("bind");
    if (!unix_kind && getsockname(listener, address, &length) < 0)
        die("getsockname");
    if (listen(listener, 1) < 0)
        die("listen");

    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        close(listener);
        echo_peer(unix_kind, address, length, size);
    }

    set_timeouts(listener);
    int conn = accept(listener, NULL, NULL);
    if (conn < 0)
        die("accept");
    close(listener);
    remove_socket_file(); /* connected: the name is no longer needed */
    socket_path[0] = socket_dir[0] = '\0';
    set_timeouts(conn);
    if (!unix_kind)
        no_delay(conn);

    char *message = malloc((size_t)size);
    char *reply = malloc((size_t)size);
    long long *samples = malloc(sizeof(long long) * (size_t)rounds);
    if (message == NULL || reply == NULL || samples == NULL)
        die("malloc");
    for (long i = 0; i < size; i++)
        message[i] = (char)(i % 251);

    for (long round = 0; round < warmup + rounds; round++) {
        long long started = now_ns();
        send_all(conn, message, size);
        if (!recv_exactly(conn, reply, size)) {
            errno = ECONNRESET;
            die("recv (the peer closed early)");
        }
        long long elapsed = now_ns() - started;
        if (memcmp(message, reply, (size_t)size) != 0) {
            fprintf(stderr, "pingpong: round %ld came back changed\n", round);
            return 1;
        }
        if (round >= warmup)
            samples[round - warmup] = elapsed;
    }
    close(conn); /* the peer reads end-of-stream and exits */

    int status = 0;
    if (waitpid(child, &status, 0) < 0)
        die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pingpong: the echo process failed (status %d)\n", status);
        return 1;
    }

    printf("{\"kind\": \"%s\", \"size\": %ld, \"rounds\": %ld, \"samples_ns\": [",
           unix_kind ? "unix" : "tcp", size, rounds);
    for (long i = 0; i < rounds; i++)
        printf(i ? ", %lld" : "%lld", samples[i]);
    printf("]}\n");
    free(message);
    free(reply);
    free(samples);
    return 0;
}
