#include "datapath/lsm_probe.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <fstream>
#include <sstream>

#include "lsm_probe.skel.h"
#include "util/bpf_handles.h"
#include "util/errno_text.h"

namespace palisade {

void SkeletonDestroy::operator()(lsm_probe* skel) const noexcept { lsm_probe__destroy(skel); }

namespace {

// libbpf reports a refused load or attach on stderr; for a probe that is an
// expected answer, not an error.
int quiet(libbpf_print_level, const char*, va_list) { return 0; }

class QuietLibbpf {
  public:
    QuietLibbpf() : previous_(libbpf_set_print(quiet)) {}
    ~QuietLibbpf() { libbpf_set_print(previous_); }
    QuietLibbpf(const QuietLibbpf&) = delete;
    QuietLibbpf& operator=(const QuietLibbpf&) = delete;

  private:
    libbpf_print_fn_t previous_;
};

LsmProbeResult trialAttach() {
    QuietLibbpf quietly;
    const LsmProbePtr skel(lsm_probe__open());
    if (!skel) return {false, "open the probe program: " + errnoText(errno)};
    skel->rodata->probe_tgid = static_cast<uint32_t>(getpid());
    if (int err = lsm_probe__load(skel.get())) {
        return {false, "load an lsm/task_getpgid program: " + errnoText(err)};
    }
    if (int err = lsm_probe__attach(skel.get())) {
        return {false, "attach an lsm/task_getpgid program: " + errnoText(err)};
    }
    getpgid(getpid());  // pid 0 would skip the LSM hook
    if (skel->bss->probe_hits == 0) {
        return {false, "an attached lsm/task_getpgid program is never called"};
    }
    return {true, ""};
}

}  // namespace

bool lsmListHasBpf(std::string_view list) {
    std::istringstream names{std::string(list)};
    for (std::string name; std::getline(names, name, ',');) {
        while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
        if (name == "bpf") return true;
    }
    return false;
}

LsmProbeResult probeBpfLsm() {
    if (int have = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_LSM, nullptr); have != 1) {
        return {false, have == 0
                           ? "the kernel has no BPF_PROG_TYPE_LSM"
                           : "the kernel refuses BPF_PROG_TYPE_LSM programs: " + errnoText(have)};
    }
    std::ifstream lsm("/sys/kernel/security/lsm");
    std::string list;
    if (lsm && std::getline(lsm, list) && !lsmListHasBpf(list)) {
        return {false,
                "bpf is not in the active LSM list (" + list + "): boot with lsm=" + list + ",bpf"};
    }
    return trialAttach();
}

}  // namespace palisade
