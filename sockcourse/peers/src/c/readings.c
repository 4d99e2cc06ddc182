/*
 * readings.c - a sensor's server, in C: it sends fixed-size binary records in network byte order.
 *
 * The homework of chapter 06 (q3, parse_readings) reads its records from
 * Python. Each record is 8 bytes, packed with no padding:
 *
 *     uint32 seq         a sequence number, counting up by one (it wraps at 2**32)
 *     int16  temp_centi  the temperature in hundredths of a degree Celsius (signed)
 *     uint16 flags       sixteen status bits
 *
 * in network byte order (big-endian, RFC 1700), which is Python's
 * struct.Struct("!IhH"). The first record of every connection is a magic one,
 * seq = 0x52454144 ("READ" in ASCII), temp_centi = 0, flags = 1, so that a
 * reader can tell from its first four bytes which byte order the sender used.
 *
 *     readings [HOST] [--count N] [--seed S] [--little] [--cut K] [--no-magic] [--mild]
 *
 * It listens on HOST (127.0.0.1 unless given; a loopback address only), port
 * 0, prints "listening on 127.0.0.1:PORT" (or "[::1]:PORT") and then, for
 * every client in turn: sends the magic record and N readings (10 unless
 * given) in one buffer, ends its side of the stream (shutdown SHUT_WR), waits
 * for the client to close (at most 10 s), prints one line saying what it sent,
 * and accepts the next. The readings come from a small generator seeded with
 * S (xorshift32, the same in sockcourse.homework.ch06_peers), so every client
 * of one run gets the same bytes, and the check knows them in advance.
 *
 *   --little    every field little-endian, magic record included: what a
 *               sender on an x86 machine sends when it forgets htonl()/htons()
 *   --cut K     after the readings, the first K bytes (1 to 7) of one more:
 *               a stream that ends in the middle of a record
 *   --no-magic  no magic record: a sender that does not speak this protocol
 *   --mild      gentle values: seq 1, 2, 3 ..., 15 to 30 degrees, flags below 16
 *
 * How the records are cut into TCP segments is not this program's business:
 * the course's fault-injecting link does that in front of it.
 *
 * It stops at SIGINT or SIGTERM (their default action) and after at most
 * 600 s in any case (alarm), so a forgotten copy never lives on. A failing
 * call of its own is named on stderr, with exit code 1 (2 for bad
 * arguments); a client that leaves early is the client's doing, said on
 * stdout, and the next client is served.
 *
 * Only POSIX calls:  cc -O2 -Wall -Wextra -std=c11 -o readings readings.c
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RECORD_SIZE 8
#define MAGIC_SEQ 0x52454144u /* "READ" */
#define MAX_COUNT 100000L
#define IO_TIMEOUT_S 10
#define LIFETIME_S 600

static void die(const char *what)
{
    fprintf(stderr, "readings: %s failed: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(const char *why)
{
    fprintf(stderr, "readings: %s\nusage: readings [HOST] [--count N] [--seed S] [--little] [--cut K] "
                    "[--no-magic] [--mild]\n", why);
    exit(2);
}

static long number(const char *text, long low, long high, const char *name)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *text == '\0' || *end != '\0' || value < low || value > high) {
        fprintf(stderr, "readings: %s must be a whole number from %ld to %ld, not '%s'\n", name, low, high, text);
        exit(2);
    }
    return value;
}

/* xorshift32 (Marsaglia, 2003): tiny, and easy to repeat exactly in Python. */
static uint32_t state;

static uint32_t next_random(void)
{
    uint32_t x = state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return state = x;
}

/* One record into 8 bytes. Network order goes through htonl/htons, as a C program
   should write it; little-endian is spelled out byte by byte, so that it is the same
   on every machine (on x86 it is what a plain memcpy of the host's integers gives). */
static void put_record(unsigned char *at, uint32_t seq, int16_t temp, uint16_t flags, int little)
{
    uint16_t temp_bits = (uint16_t)temp; /* the two's complement bits of a negative value */
    if (little) {
        at[0] = seq & 0xff; at[1] = (seq >> 8) & 0xff; at[2] = (seq >> 16) & 0xff; at[3] = seq >> 24;
        at[4] = temp_bits & 0xff; at[5] = temp_bits >> 8;
        at[6] = flags & 0xff; at[7] = flags >> 8;
    } else {
        uint32_t seq_n = htonl(seq);
        uint16_t temp_n = htons(temp_bits), flags_n = htons(flags);
        memcpy(at, &seq_n, 4);
        memcpy(at + 4, &temp_n, 2);
        memcpy(at + 6, &flags_n, 2);
    }
}

/* The bytes every client gets: the magic record, the readings, perhaps a piece of one more. */
static long make_records(unsigned char *buffer, long count, long seed, int little, int cut, int magic, int mild)
{
    long size = 0;
    state = ((uint32_t)seed * 2654435761u) ^ 0x9E3779B9u;
    if (state == 0)
        state = 1; /* xorshift stays at 0 for ever */
    if (magic) {
        put_record(buffer, MAGIC_SEQ, 0, 1, little);
        size += RECORD_SIZE;
    }
    uint32_t first = mild ? 1u : next_random();
    for (long i = 0; i < count + (cut > 0); i++) {
        int16_t temp = mild ? (int16_t)(1500 + next_random() % 1500) : (int16_t)((int32_t)(next_random() % 12501) - 4000);
        uint16_t flags = mild ? (uint16_t)(next_random() % 16) : (uint16_t)(next_random() & 0xffff);
        put_record(buffer + size, first + (uint32_t)i, temp, flags, little);
        size += i < count ? RECORD_SIZE : cut;
    }
    return size;
}

/* 0 when every byte went out, -1 when the client had gone (errno says how). */
static int send_all(int fd, const unsigned char *buffer, long size)
{
    long sent = 0;
    while (sent < size) {
        ssize_t n = send(fd, buffer + sent, (size_t)(size - sent), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        sent += n;
    }
    return 0;
}

static int listen_on(const char *host, char *shown, size_t shown_size)
{
    struct sockaddr_storage address;
    socklen_t length;
    memset(&address, 0, sizeof address);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&address;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&address;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127)
            usage("HOST must be a loopback address (127.x.x.x or ::1): this program never listens elsewhere");
        v4->sin_family = AF_INET;
        length = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr))
            usage("HOST must be a loopback address (127.x.x.x or ::1): this program never listens elsewhere");
        v6->sin6_family = AF_INET6;
        length = sizeof *v6;
    } else {
        usage("HOST must be a numeric loopback address, such as 127.0.0.1 or ::1");
    }
    int listener = socket(address.ss_family, SOCK_STREAM, 0);
    if (listener < 0)
        die("socket");
    /* Port 0: the kernel picks a free port, so no other program's port is ever taken. */
    if (bind(listener, (struct sockaddr *)&address, length) < 0)
        die("bind");
    if (listen(listener, 16) < 0)
        die("listen");
    length = sizeof address;
    if (getsockname(listener, (struct sockaddr *)&address, &length) < 0)
        die("getsockname");
    if (address.ss_family == AF_INET)
        snprintf(shown, shown_size, "%s:%u", host, ntohs(v4->sin_port));
    else
        snprintf(shown, shown_size, "[%s]:%u", host, ntohs(v6->sin6_port));
    return listener;
}

static void serve_one(int client, const unsigned char *records, long size, long count, int little)
{
    struct timeval limit = {IO_TIMEOUT_S, 0};
    if (setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) < 0)
        die("setsockopt(SO_RCVTIMEO)");
    if (setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) < 0)
        die("setsockopt(SO_SNDTIMEO)");
    if (send_all(client, records, size) < 0) {
        printf("the client left before it had every byte: send: %s\n", strerror(errno));
        fflush(stdout);
        return;
    }
    /* FIN now, so that the reader's recv() returns b"" after the last byte; then wait for
       the client's own close, so that whatever it sent is read and no RST is needed. */
    if (shutdown(client, SHUT_WR) < 0 && errno != ENOTCONN)
        die("shutdown");
    char scratch[4096];
    for (int rounds = 0; rounds < 1000; rounds++) {
        ssize_t n = recv(client, scratch, sizeof scratch, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            break; /* closed, reset, or silent for IO_TIMEOUT_S: done with it either way */
    }
    printf("sent %ld readings (%ld bytes, %s)\n", count, size, little ? "little-endian" : "network order");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    long count = 10, seed = 1;
    int little = 0, cut = 0, magic = 1, mild = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = number(argv[++i], 0, MAX_COUNT, "--count");
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = number(argv[++i], 0, 2147483647L, "--seed");
        else if (strcmp(argv[i], "--cut") == 0 && i + 1 < argc)
            cut = (int)number(argv[++i], 0, RECORD_SIZE - 1, "--cut");
        else if (strcmp(argv[i], "--little") == 0)
            little = 1;
        else if (strcmp(argv[i], "--no-magic") == 0)
            magic = 0;
        else if (strcmp(argv[i], "--mild") == 0)
            mild = 1;
        else if (i == 1 && argv[i][0] != '-')
            host = argv[i];
        else
            usage("unknown argument (or one without its value)");
    }
    alarm(LIFETIME_S);
    /* A client that resets while we send would otherwise end this process with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    unsigned char *records = malloc((size_t)(count + 2) * RECORD_SIZE);
    if (records == NULL)
        die("malloc");
    long size = make_records(records, count, seed, little, cut, magic, mild);

    char shown[80];
    int listener = listen_on(host, shown, sizeof shown);
    printf("listening on %s\n", shown);
    fflush(stdout);
    for (;;) {
        int client = accept(listener, NULL, NULL);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        serve_one(client, records, size, count, little);
        if (close(client) < 0)
            die("close");
    }
}
