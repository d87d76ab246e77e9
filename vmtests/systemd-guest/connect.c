/* pvm-connect: what a TCP connect() from this process gets, for the systemd
 * guest's checks (vmtests/systemd-guest/checks.sh). Built static on the host.
 *
 *   pvm-connect ADDR PORT
 *       one connect: prints OK or the errno name (EPERM: refused by palisade's
 *       cgroup hook; ECONNREFUSED: the peer answered, so it was let through)
 *   pvm-connect ADDR PORT STOPFILE MAXSECONDS
 *       connects every 5 ms until STOPFILE exists (at most MAXSECONDS), then
 *       prints "attempts=N EPERM=N other=N first_other=NAME@MS" (MS: time since
 *       the first attempt) */
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

static const char *name(int err) {
    switch (err) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EINPROGRESS: return "EINPROGRESS";
    case EAGAIN: return "EAGAIN";
    default: return strerror(err);
    }
}

static int attempt(const struct sockaddr_in *to) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    struct timeval limit = {.tv_sec = 2};  /* a peer that never answers */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
    int err = connect(fd, (const struct sockaddr *)to, sizeof(*to)) == 0 ? 0 : errno;
    close(fd);
    return err;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 5) {
        fprintf(stderr, "usage: %s ADDR PORT [STOPFILE MAXSECONDS]\n", argv[0]);
        return 2;
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        fprintf(stderr, "%s: not an IPv4 address\n", argv[1]);
        return 2;
    }
    if (argc == 3) {
        puts(name(attempt(&to)));
        return 0;
    }
    const double start = now(), end = start + atof(argv[4]);
    long attempts = 0, eperm = 0, other = 0;
    char first[64] = "-";
    while (access(argv[3], F_OK) != 0 && now() < end && attempts < 1000000) {
        int err = attempt(&to);
        ++attempts;
        if (err == EPERM) {
            ++eperm;
        } else if (other++ == 0) {
            snprintf(first, sizeof(first), "%s@%.0f", name(err), (now() - start) * 1000);
        }
        usleep(5000);
    }
    printf("attempts=%ld EPERM=%ld other=%ld first_other=%s seconds=%.1f\n", attempts, eperm,
           other, first, now() - start);
    return 0;
}
