/*
 * What a process runs with, for the exec policy tests (tests/integration/
 * exec_test.cpp): copies of this binary get set-user-ID, set-group-ID or file
 * capability bits, and print the credentials the exec gave them. Unlike id(1)
 * from busybox, it never drops what it was given. Prints
 *   "ruid=R euid=E rgid=G egid=F capprm=HEX\n"
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    unsigned long long capprm = 0;
    char line[256];
    FILE* status = fopen("/proc/self/status", "r");

    while (status && fgets(line, sizeof(line), status)) {
        if (sscanf(line, "CapPrm: %llx", &capprm) == 1) break;
    }
    if (status) fclose(status);
    printf("ruid=%u euid=%u rgid=%u egid=%u capprm=%llx\n", getuid(), geteuid(), getgid(),
           getegid(), capprm);
    return 0;
}
