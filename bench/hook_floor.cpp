// palisade-hook-floor: attaches the programs of bpf/hook_floor.bpf.c, which do nothing, to
// every cgroup hook palisade uses, on one cgroup (--cgroup DIR), for the benchmarks' floor row
// (docs/benchmarks.md): the cost of the hooks themselves. Prints "ready" once every program
// is attached, then holds them until SIGTERM or --seconds pass; the links are its own, so
// they go with the process, whatever ends it.
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "hook_floor.skel.h"

namespace {

volatile sig_atomic_t gStop = 0;
void onStop(int) { gStop = 1; }

[[noreturn]] void die(const std::string& what, int err) {
    std::fprintf(stderr, "palisade-hook-floor: %s: %s\n", what.c_str(), std::strerror(err));
    std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Attaches programs that do nothing to palisade's cgroup hooks"};
    std::string cgroup;
    double seconds = 600;
    app.add_option("--cgroup", cgroup, "the cgroup (v2 directory) to attach to")->required();
    app.add_option("--seconds", seconds, "detach after this long at the latest");
    CLI11_PARSE(app, argc, argv);

    signal(SIGTERM, onStop);
    signal(SIGINT, onStop);
    const int cg = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cg < 0) die("open " + cgroup, errno);
    hook_floor* skel = hook_floor__open_and_load();
    if (!skel) die("load bpf/hook_floor.bpf.c", errno);
    std::vector<bpf_link*> links;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        bpf_link* link = bpf_program__attach_cgroup(prog, cg);
        if (!link) die(std::string("attach ") + bpf_program__name(prog) + " to " + cgroup, errno);
        links.push_back(link);
    }
    std::printf("ready\n");
    std::fflush(stdout);
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!gStop && std::chrono::steady_clock::now() < end) usleep(100000);
    for (bpf_link* link : links) bpf_link__destroy(link);
    hook_floor__destroy(skel);
    close(cg);
    return 0;
}
