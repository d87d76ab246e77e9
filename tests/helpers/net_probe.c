// The network side of a container in tests/e2e: static, so that it runs in an image
// made of busybox alone. Prints one word, what the kernel answered, and exits 0:
//
//   net_probe connect tcp|udp ADDRESS PORT   "ok" or the errno's name ("EPERM", ...)
//   net_probe listen PORT SECONDS            accepts and closes TCP connections on
//                                            [::]:PORT for SECONDS, then exits
//
// connect: TCP is a connect() bounded by 3 s; UDP is an unconnected sendto(), which the
// cgroup sendmsg hooks judge. Exit 2 on a usage error.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int usage(void) {
    fprintf(stderr, "usage: net_probe connect tcp|udp ADDRESS PORT | listen PORT SECONDS\n");
    return 2;
}

static int answer(int err) {
    puts(err == 0 ? "ok" : strerrorname_np(err) ? strerrorname_np(err) : "E?");
    return 0;
}

static int probeConnect(const char* proto, const char* address, int port) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    int family;
    struct sockaddr_in* in4 = (struct sockaddr_in*)&ss;
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)&ss;
    if (inet_pton(AF_INET, address, &in4->sin_addr) == 1) {
        family = in4->sin_family = AF_INET;
        in4->sin_port = htons(port);
        len = sizeof *in4;
    } else if (inet_pton(AF_INET6, address, &in6->sin6_addr) == 1) {
        family = in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        len = sizeof *in6;
    } else {
        return usage();
    }
    int udp = strcmp(proto, "udp") == 0;
    int fd = socket(family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) return answer(errno);
    struct timeval limit = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    int rc = udp ? (int)sendto(fd, "x", 1, 0, (struct sockaddr*)&ss, len)
                 : connect(fd, (struct sockaddr*)&ss, len);
    int err = rc < 0 ? errno : 0;
    close(fd);
    return answer(err == EINPROGRESS ? ETIMEDOUT : err);
}

static int probeListen(int port, int seconds) {
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return answer(errno);
    int on = 1, off = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 any = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    if (bind(fd, (struct sockaddr*)&any, sizeof any) < 0 || listen(fd, 64) < 0)
        return answer(errno);
    struct timeval tick = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
    answer(0);
    fflush(stdout);
    for (time_t end = time(NULL) + seconds; time(NULL) < end;) {
        int c = accept(fd, NULL, NULL);
        if (c >= 0) close(c);
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc == 5 && strcmp(argv[1], "connect") == 0 &&
        (strcmp(argv[2], "tcp") == 0 || strcmp(argv[2], "udp") == 0))
        return probeConnect(argv[2], argv[3], atoi(argv[4]));
    if (argc == 4 && strcmp(argv[1], "listen") == 0)
        return probeListen(atoi(argv[2]), atoi(argv[3]));
    return usage();
}
