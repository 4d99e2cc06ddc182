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
 * with 1 (2 for bad arguments).
 *
 * Two more ways to run it put C on one side only, with Python on the other
 * (sockcourse.bench.c_peer.round_trips), so that a learner can see which side
 * of a Python round trip costs what:
 *
 *     pingpong --fd N [--rounds N] [--warmup W] [--size S]
 *         time the round trips over the connected socket N it inherited (the
 *         other end echoes), and print the same line of JSON;
 *     pingpong --echo-fd N [--size S]
 *         echo every SIZE-byte message on the inherited socket N until the
 *         other end closes it, and print nothing.
 *
 * And one way to take turns with a Python process, so that a block of C
 * round trips and a block of Python ones meet the machine in the same state
 * (sockcourse.bench.c_peer.pairing, as bench.suite uses it):
 *
 *     pingpong --control N [--unix | --fd M] [--warmup W] [--size S]
 *         with an echo process of its own (as in the first form), or over
 *         the inherited socket M, do W round trips untimed; then wait on the
 *         inherited socket N for requests. Each is a 4-byte big-endian count
 *         R, answered by timing R round trips and writing R 8-byte counts of
 *         nanoseconds back on N, in this machine's byte order (the reader is
 *         on this machine). A count of 0, or the end of N's stream, ends it.
 *         Nothing is printed on stdout.
 *
 * The parent makes and connects that socket, TCP_NODELAY included (an option
 * of the socket, not of the descriptor, so this copy has it too). Every blocking call has a time limit
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
/* The most round trips one --control request may ask for (its answer is 8 bytes each). */
#define MAX_BLOCK 100000L
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

/* Echo every message on the connected socket fd until the other end closes it. */
static void echo_until_closed(int fd, long size)
{
    char *buffer = malloc((size_t)size);
    if (buffer == NULL)
        die("malloc (peer)");
    /* Bounded like every loop here: twice the most rounds a run may ask for, warm-up included. */
    for (long round = 0; round <= MAX_ROUNDS * 2; round++) {
        if (!recv_exactly(fd, buffer, size))
            break;
        send_all(fd, buffer, size);
    }
    free(buffer);
    close(fd);
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
    echo_until_closed(fd, size);
    _exit(0);
}

/* An inherited descriptor must be a stream socket, or the run would time nothing real. */
static int inherited_socket(long fd, const char *option)
{
    int type = 0;
    socklen_t length = sizeof type;
    if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &length) < 0 || type != SOCK_STREAM) {
        fprintf(stderr, "pingpong: %s %ld is not a connected stream socket this program inherited; "
                        "start it with the socket passed on, as sockcourse.bench.c_peer does.\n", option, fd);
        exit(2);
    }
    set_timeouts((int)fd);
    return (int)fd;
}

static const char *kind_of(int fd)
{
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) < 0)
        die("getsockname");
    return address.ss_family == AF_UNIX ? "unix" : "tcp";
}

/* Time warmup + rounds round trips on conn, keeping all but the first `warmup`; 0 on success. */
static int time_round_trips(int conn, long rounds, long warmup, long size, long long *samples)
{
    char *message = malloc((size_t)size);
    char *reply = malloc((size_t)size);
    if (message == NULL || reply == NULL)
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
    free(message);
    free(reply);
    return 0;
}

static void print_samples(const char *kind, long size, long rounds, const long long *samples)
{
    printf("{\"kind\": \"%s\", \"size\": %ld, \"rounds\": %ld, \"samples_ns\": [", kind, size, rounds);
    for (long i = 0; i < rounds; i++)
        printf(i ? ", %lld" : "%lld", samples[i]);
    printf("]}\n");
}

/* Connect to a forked echo process of our own; the child's pid goes to *child. */
static int own_echo(int unix_kind, long size, pid_t *child)
{
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
    *child = fork();
    if (*child < 0)
        die("fork");
    if (*child == 0) {
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
    return conn;
}

/* 0 when the echo process we forked ended well. */
static int wait_for_echo(pid_t child)
{
    int status = 0;
    if (waitpid(child, &status, 0) < 0)
        die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "pingpong: the echo process failed (status %d)\n", status);
        return 1;
    }
    return 0;
}

/* Answer block requests on the control socket until it says 0 or closes; 0 on success. */
static int serve_blocks(int control, int conn, long warmup, long size)
{
    long long *samples = malloc(sizeof(long long) * (size_t)MAX_BLOCK);
    long long *unused = malloc(sizeof(long long) * (size_t)(warmup ? warmup : 1));
    if (samples == NULL || unused == NULL)
        die("malloc");
    /* Untimed rounds first: caches, page faults, the scheduler meeting the echo process. */
    if (warmup && time_round_trips(conn, warmup, 0, size, unused) != 0)
        return 1;
    /* Bounded like every loop here; the alarm ends a run that takes too long anyway. */
    for (long block = 0; block < MAX_ROUNDS; block++) {
        unsigned char request[4];
        if (!recv_exactly(control, (char *)request, sizeof request))
            break; /* the other side closed: it has every block it wanted */
        long rounds = ((long)request[0] << 24) | ((long)request[1] << 16) | ((long)request[2] << 8) | request[3];
        if (rounds == 0)
            break;
        if (rounds > MAX_BLOCK) {
            fprintf(stderr, "pingpong: a block of %ld round trips was asked for; the most is %ld\n",
                    rounds, MAX_BLOCK);
            return 2;
        }
        if (time_round_trips(conn, rounds, 0, size, samples) != 0)
            return 1;
        send_all(control, (const char *)samples, (long)sizeof(long long) * rounds);
    }
    free(samples);
    free(unused);
    return 0;
}

int main(int argc, char **argv)
{
    int unix_kind = 0;
    long rounds = 10000, warmup = 20, size = 1, timing_fd = -1, echo_fd = -1, control_fd = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--unix") == 0)
            unix_kind = 1;
        else if (strcmp(argv[i], "--fd") == 0 && i + 1 < argc)
            timing_fd = whole_number(argv[++i], "--fd", 3, 1L << 20);
        else if (strcmp(argv[i], "--echo-fd") == 0 && i + 1 < argc)
            echo_fd = whole_number(argv[++i], "--echo-fd", 3, 1L << 20);
        else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
            control_fd = whole_number(argv[++i], "--control", 3, 1L << 20);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = whole_number(argv[++i], "--rounds", 1, MAX_ROUNDS);
        else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc)
            warmup = whole_number(argv[++i], "--warmup", 0, MAX_ROUNDS);
        else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = whole_number(argv[++i], "--size", 1, MAX_SIZE);
        else {
            fprintf(stderr, "pingpong: unknown argument '%s'; usage: pingpong [--unix | --fd N | "
                            "--echo-fd N] [--control N] [--rounds N] [--warmup W] [--size S]\n", argv[i]);
            return 2;
        }
    }
    if ((timing_fd >= 0) + (echo_fd >= 0) + unix_kind > 1) {
        fprintf(stderr, "pingpong: --unix, --fd and --echo-fd are three different runs; pass one of them, "
                        "for example --fd 3.\n");
        return 2;
    }
    if (control_fd >= 0 && echo_fd >= 0) {
        fprintf(stderr, "pingpong: --control times round trips and --echo-fd only echoes; pass one of them, "
                        "for example --control 3.\n");
        return 2;
    }
    alarm(RUN_LIMIT_S);

    if (echo_fd >= 0) {
        echo_until_closed(inherited_socket(echo_fd, "--echo-fd"), size);
        return 0;
    }
    if (control_fd >= 0) {
        int control = inherited_socket(control_fd, "--control");
        pid_t child = -1;
        int conn = timing_fd >= 0 ? inherited_socket(timing_fd, "--fd") : own_echo(unix_kind, size, &child);
        int failed = serve_blocks(control, conn, warmup, size);
        close(conn); /* the echo reads end-of-stream and finishes */
        close(control);
        if (child > 0 && wait_for_echo(child) != 0)
            return 1;
        return failed;
    }
    if (timing_fd >= 0) {
        int conn = inherited_socket(timing_fd, "--fd");
        const char *kind = kind_of(conn);
        long long *kept = malloc(sizeof(long long) * (size_t)rounds);
        if (kept == NULL)
            die("malloc");
        if (time_round_trips(conn, rounds, warmup, size, kept) != 0)
            return 1;
        close(conn); /* the other end reads end-of-stream and finishes */
        print_samples(kind, size, rounds, kept);
        free(kept);
        return 0;
    }

    pid_t child = -1;
    int conn = own_echo(unix_kind, size, &child);
    long long *samples = malloc(sizeof(long long) * (size_t)rounds);
    if (samples == NULL)
        die("malloc");
    if (time_round_trips(conn, rounds, warmup, size, samples) != 0)
        return 1;
    close(conn); /* the peer reads end-of-stream and exits */
    if (wait_for_echo(child) != 0)
        return 1;

    print_samples(unix_kind ? "unix" : "tcp", size, rounds, samples);
    free(samples);
    return 0;
}
