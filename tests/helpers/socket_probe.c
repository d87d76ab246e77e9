/*
 * Creates a packet socket one of the ways the kernel offers, for the packet
 * socket tests (tests/integration/egress_test.cpp):
 *   packet        socket(AF_PACKET, SOCK_RAW, 0)
 *   sock-packet   socket(AF_INET, SOCK_PACKET, ...), which the kernel turns
 *                 into an AF_PACKET socket after the call's entry
 *   int80         socket() as a 32-bit system call (int $0x80), x86 only
 *   socketcall80  socketcall(SYS_SOCKET, ...) as a 32-bit system call
 * Prints "created family=N" (the socket's SO_DOMAIN) and exits 0, or prints
 * the error and exits 1; exits 77 where the way does not exist here (no
 * 32-bit system calls: another architecture, or ia32 emulation off).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#define ETH_P_ALL_BE 0x0300 /* htons(ETH_P_ALL) */

#if defined(__x86_64__)
static long int80(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
    return ret;
}

static int socket32(int family, int type, int protocol) {
    long ret = int80(359, family, type, protocol); /* syscall_32.tbl: socket */
    if (ret < 0) errno = (int)-ret;
    return ret < 0 ? -1 : (int)ret;
}

static int socketcall32(int family, int type, int protocol) {
    /* The arguments, three 32-bit words, where a 32-bit address reaches. */
    unsigned* args =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (args == MAP_FAILED) return -1;
    args[0] = (unsigned)family;
    args[1] = (unsigned)type;
    args[2] = (unsigned)protocol;
    long ret = int80(102, 1 /* SYS_SOCKET */, (long)args, 0); /* syscall_32.tbl: socketcall */
    if (ret < 0) errno = (int)-ret;
    return ret < 0 ? -1 : (int)ret;
}
#endif

int main(int argc, char** argv) {
    const char* way = argc > 1 ? argv[1] : "";
    int fd = -1;

    if (!strcmp(way, "packet")) {
        fd = socket(AF_PACKET, SOCK_RAW, 0);
    } else if (!strcmp(way, "sock-packet")) {
        fd = socket(AF_INET, SOCK_PACKET, ETH_P_ALL_BE);
    } else if (!strcmp(way, "int80") || !strcmp(way, "socketcall80")) {
#if defined(__x86_64__)
        fd = !strcmp(way, "int80") ? socket32(AF_PACKET, SOCK_RAW, 0)
                                   : socketcall32(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0 && errno == ENOSYS) {
            printf("unsupported: no 32-bit system calls\n");
            return 77;
        }
#else
        printf("unsupported: not x86\n");
        return 77;
#endif
    } else {
        fprintf(stderr, "usage: socket_probe packet|sock-packet|int80|socketcall80\n");
        return 2;
    }
    if (fd < 0) {
        printf("error %s\n", strerror(errno));
        return 1;
    }
    int family = 0;
    socklen_t len = sizeof(family);
    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &len);
    printf("created family=%d\n", family);
    return 0;
}
