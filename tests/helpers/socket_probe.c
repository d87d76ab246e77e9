/*
 * Creates a packet socket one of the ways the kernel offers, for the packet
 * socket tests (tests/integration/egress_test.cpp):
 *   packet        socket(AF_PACKET, SOCK_RAW, 0)
 *   sock-packet   socket(AF_INET, SOCK_PACKET, ...), which the kernel turns
 *                 into an AF_PACKET socket after the call's entry
 *   int80         socket() as a 32-bit system call (int $0x80), x86 only
 *   socketcall80  socketcall(SYS_SOCKET, ...) as a 32-bit system call
 *   xdp           socket(AF_XDP, SOCK_RAW, 0)
 *   io_uring      io_uring's IORING_OP_SOCKET for AF_PACKET: no socket() call at all
 * Prints "created family=N" (the socket's SO_DOMAIN) and exits 0, or prints
 * the error and exits 1; exits 77 where the way does not exist here (no
 * 32-bit system calls: another architecture, or ia32 emulation off; no io_uring
 * or no IORING_OP_SOCKET, before Linux 5.19).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ETH_P_ALL_BE 0x0300 /* htons(ETH_P_ALL) */

#if defined(__x86_64__)
/* With ia32 emulation off (ia32_emulation=0, or a kernel without it) int $0x80 is a
 * general protection fault: SIGSEGV, not ENOSYS. */
static void no_int80(int sig) {
    (void)sig;
    static const char msg[] = "unsupported: int $0x80 faults (no ia32 emulation)\n";
    ssize_t n = write(1, msg, sizeof(msg) - 1);
    (void)n;
    _exit(77);
}

static long int80(long nr, long a, long b, long c) {
    signal(SIGSEGV, no_int80);
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

/* One IORING_OP_SOCKET, with the rings mapped by hand (no liburing in a static probe). */
static int socket_uring(int family, int type, int protocol) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    int ring = (int)syscall(__NR_io_uring_setup, 1, &p);
    if (ring < 0 || !(p.features & IORING_FEAT_SINGLE_MMAP)) {
        /* ENOSYS, or EPERM under kernel.io_uring_disabled or a seccomp profile */
        printf("unsupported: io_uring_setup: %s\n", ring < 0 ? strerror(errno) : "old ABI");
        exit(77);
    }
    size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
    size_t len = sq_len > cq_len ? sq_len : cq_len;
    char* rings = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                       IORING_OFF_SQ_RING);
    struct io_uring_sqe* sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
                                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
                                     IORING_OFF_SQES);
    if (rings == MAP_FAILED || sqes == MAP_FAILED) return -1;
    memset(&sqes[0], 0, sizeof(sqes[0]));
    sqes[0].opcode = IORING_OP_SOCKET;
    sqes[0].fd = family;
    sqes[0].off = (unsigned)type;
    sqes[0].len = (unsigned)protocol;
    unsigned* tail = (unsigned*)(rings + p.sq_off.tail);
    ((unsigned*)(rings + p.sq_off.array))[*tail & *(unsigned*)(rings + p.sq_off.ring_mask)] = 0;
    __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
    if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0) return -1;
    unsigned head = __atomic_load_n((unsigned*)(rings + p.cq_off.head), __ATOMIC_ACQUIRE);
    struct io_uring_cqe* cqes = (struct io_uring_cqe*)(rings + p.cq_off.cqes);
    int res = cqes[head & *(unsigned*)(rings + p.cq_off.ring_mask)].res;
    if (res < 0) errno = -res;
    return res < 0 ? -1 : res;
}

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
    } else if (!strcmp(way, "xdp")) {
        fd = socket(AF_XDP, SOCK_RAW, 0);
    } else if (!strcmp(way, "io_uring")) {
        fd = socket_uring(AF_PACKET, SOCK_RAW, 0);
        if (fd < 0 && errno == EINVAL) {
            printf("unsupported: no IORING_OP_SOCKET (Linux 5.19)\n");
            return 77;
        }
    } else {
        fprintf(stderr, "usage: socket_probe packet|sock-packet|int80|socketcall80|xdp|io_uring\n");
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
