/*
 * talk_server.c - the server as the talk (and many a tutorial) writes it, to read beside echo_server.c.
 *
 * NEVER RUN: the course compiles it, to show it is real C, and refuses to start it
 * (sockcourse.peers.native.start raises an error for it). Read it for what it gets wrong;
 * each LESSON comment points at a line that echo_server.c does differently.
 */
/* Not in the talk: the course builds with -std=c11, which hides what is not standard C, and
 * SO_REUSEPORT with it; gcc's own default (a GNU mode: gnu17 up to GCC 14, gnu23 from GCC 15)
 * shows it, as on the talk's slides. */
#define _DEFAULT_SOURCE 1

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORT 8080 /* LESSON 1: a fixed port. A second copy, or any program already on 8080, fails
                   * with EADDRINUSE; echo_server asks for port 0 and reads the kernel's choice. */

int main(void)
{
    int listener, conn;
    struct sockaddr_in address;
    int yes = 1;
    socklen_t length = sizeof address;
    char buffer[1024] = {0};

    if ((listener = socket(AF_INET, SOCK_STREAM, 0)) < 0) {
        perror("socket");
        return 1;
    }

    /* LESSON 2: two options in one call. setsockopt() takes ONE option name; OR-ing two names
     * makes a third number. On Linux SO_REUSEADDR is 2 and SO_REUSEPORT is 15, and 2 | 15 == 15,
     * so this call sets SO_REUSEPORT only (which lets other sockets that also set it, run by the
     * same user, bind the same port and share its connections) and never SO_REUSEADDR. On macOS and the BSDs the two are separate bits
     * (0x4, 0x200), their OR names no option at all, and the call fails. One call per option. */
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR | SO_REUSEPORT, &yes, sizeof yes) < 0) {
        perror("setsockopt");
        return 1;
    }

    address.sin_family = AF_INET;
    /* LESSON 3: INADDR_ANY is 0.0.0.0, every interface: anyone on the network can connect.
     * echo_server binds 127.0.0.1, reachable from this machine only. */
    address.sin_addr.s_addr = INADDR_ANY;
    address.sin_port = htons(PORT);

    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(listener, 3) < 0) {
        perror("listen");
        return 1;
    }
    printf("waiting on port %d\n", PORT); /* LESSON 4: no fflush: through a pipe, nobody sees this yet */

    /* LESSON 5: one client, then the end; no time limit anywhere, so a silent client holds it for ever. */
    if ((conn = accept(listener, (struct sockaddr *)&address, &length)) < 0) {
        perror("accept");
        return 1;
    }

    /* LESSON 6: from here on nothing is checked. read() may return -1, or fewer bytes than were
     * sent (TCP is a stream: one send() can arrive as two reads, two as one), and the buffer is
     * printed as if it were one whole message ending in '\0'. */
    read(conn, buffer, sizeof buffer - 1);
    printf("%s\n", buffer);
    const char *reply = "hello from the server";
    send(conn, reply, strlen(reply), 0); /* LESSON 7: send() may send less than asked; unchecked */

    close(conn);
    close(listener);
    return 0;
}
