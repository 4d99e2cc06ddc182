/*
 * echo_server.c - the course's TCP echo server in C: the calls Python's socket module makes for us.
 *
 *     echo_server [HOST]        HOST: a loopback address, 127.0.0.1 (the default) or ::1
 *
 * It binds HOST on port 0 (the kernel picks a free port), prints one line,
 *     listening on 127.0.0.1:43121        (or: listening on [::1]:43121)
 * then serves one client at a time: whatever it reads, it sends back unchanged, until the
 * client closes its side; then it closes the connection and accepts the next one. SIGINT or
 * SIGTERM ends it (their default action), and so does alarm() after LIFETIME_S seconds, so a
 * server nobody stopped never lives on. Every call is checked: a failing call of the server
 * names itself on stderr and ends the program with 1; a failing client only loses its connection.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LIFETIME_S 600    /* the longest the server lives */
#define READ_TIMEOUT_S 10 /* the longest one client may stay silent */
#define BUFFER_SIZE 4096

static void die(const char *call)
{
    fprintf(stderr, "echo_server: %s failed: %s\n", call, strerror(errno));
    exit(1);
}

/* Send all n bytes (send() may take fewer); 0 on success, -1 if the client went away. */
static int send_all(int conn, const char *data, ssize_t n)
{
    while (n > 0) {
        ssize_t sent = send(conn, data, (size_t)n, 0);
        if (sent < 0 && errno == EINTR)
            continue;
        if (sent < 0)
            return -1;
        data += sent;
        n -= sent;
    }
    return 0;
}

/* Echo one client until it closes its side, times out or breaks the connection. */
static void serve_one(int conn)
{
    char buffer[BUFFER_SIZE];
    struct timeval limit = {READ_TIMEOUT_S, 0};
    if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0)
        die("setsockopt(SO_RCVTIMEO)");
    for (;;) { /* bounded by the read timeout and the server's lifetime */
        ssize_t n = read(conn, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) { /* EAGAIN: silent for READ_TIMEOUT_S; ECONNRESET: the client reset */
            fprintf(stderr, "echo_server: read failed: %s; closing this connection\n", strerror(errno));
            break;
        }
        if (n == 0) /* end of stream: the client closed (or shut down) its side */
            break;
        if (send_all(conn, buffer, n) < 0) {
            fprintf(stderr, "echo_server: send failed: %s; closing this connection\n", strerror(errno));
            break;
        }
    }
    if (close(conn) < 0)
        die("close");
}

int main(int argc, char **argv)
{
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    struct sockaddr_storage address = {0};
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
    socklen_t length;

    /* Only a loopback address: nothing here should ever be reachable from another machine. */
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1 && (ntohl(v4->sin_addr.s_addr) >> 24) == 127) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(0); /* port 0: the kernel picks a free one, so two runs never collide */
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1 && IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(0);
        length = sizeof *v6;
    } else {
        fprintf(stderr, "echo_server: '%s' is not a loopback address; give 127.0.0.1 or ::1\n", host);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN); /* a client that vanishes makes send() fail with EPIPE, not kill us */
    alarm(LIFETIME_S);

    int listener = socket(address.ss_family, SOCK_STREAM, 0);
    if (listener < 0)
        die("socket");
    /* SO_REUSEADDR lets bind() take a port whose old connections still sit in TIME_WAIT. With
     * port 0 it changes nothing (the kernel hands out a free port anyway); on a fixed port it
     * is what lets a restarted server bind again at once instead of failing with EADDRINUSE. */
    int on = 1;
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        die("setsockopt(SO_REUSEADDR)");
    if (bind(listener, (struct sockaddr *)&address, length) < 0)
        die("bind");
    if (listen(listener, 16) < 0)
        die("listen");
    /* Ask which port the kernel chose: bind() with port 0 does not say. */
    if (getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        die("getsockname");

    char text[INET6_ADDRSTRLEN];
    const void *where = address.ss_family == AF_INET ? (void *)&v4->sin_addr : (void *)&v6->sin6_addr;
    if (inet_ntop(address.ss_family, where, text, sizeof text) == NULL)
        die("inet_ntop");
    if (address.ss_family == AF_INET)
        printf("listening on %s:%d\n", text, ntohs(v4->sin_port));
    else
        printf("listening on [%s]:%d\n", text, ntohs(v6->sin6_port));
    /* stdout is a pipe here, so it is fully buffered: without the flush, nobody would see the line. */
    if (fflush(stdout) != 0)
        die("fflush(stdout)");

    for (;;) { /* one client at a time, until a signal or the alarm ends the program */
        int conn = accept(listener, NULL, NULL);
        if (conn < 0 && (errno == EINTR || errno == ECONNABORTED))
            continue; /* a signal we survive, or a client that left before we took it */
        if (conn < 0)
            die("accept");
        serve_one(conn);
    }
}
