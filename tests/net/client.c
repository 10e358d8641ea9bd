/* A client that ignores every proxy setting: a bare connect() to
 * ADDRESS PORT, an HTTP/1.0 GET, and the answer's body on stdout (or why
 * the connection failed). For tests/network.rs. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: client ADDRESS PORT\n");
        return 2;
    }
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
    if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
        fprintf(stderr, "not an address: %s\n", argv[1]);
        return 2;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("connect: %s\n", strerror(errno));
        return 1;
    }
    const char *req = "GET / HTTP/1.0\r\n\r\n";
    if (write(s, req, strlen(req)) != (ssize_t)strlen(req)) {
        printf("write: %s\n", strerror(errno));
        return 1;
    }
    static char buf[1 << 16];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(s, buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = 0;
    char *body = strstr(buf, "\r\n\r\n");
    printf("%s\n", body ? body + 4 : buf);
    return 0;
}
