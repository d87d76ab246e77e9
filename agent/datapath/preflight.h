// Before anything is loaded or attached: does this host offer every kernel
// interface the agent needs? A host that lacks one (no cgroup2 mount, say)
// then fails with one message naming each missing interface, why it is needed
// and the command that fixes it, instead of half-way through attach(). No
// program needs tracefs (the syscall hook is a raw tracepoint, tp_btf/).
//
// The host is reached through HostInterfaces and the kernel's BPF features
// through Features (datapath/features.h), so that unit tests fake any host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/features.h"

namespace palisade {

struct PreflightOptions {
    std::string cgroupRoot;  // as configured; empty: the first cgroup2 mount
    std::string stateDir;    // where the datapath pins (DatapathOptions::stateDir)
};

struct PreflightCheck {
    std::string name;  // cgroup2, bpffs, btf, bpf-lsm or a featureName()
    bool ok = false;
    bool required = true;  // false: the agent runs without it, in a lesser mode
    std::string detail;    // what was found; when not ok, what is missing and why it matters
    std::string fix;       // when not ok: the command or setting that fixes it
};

struct PreflightReport {
    std::vector<PreflightCheck> checks;
    std::string cgroupRoot;  // resolved: options.cgroupRoot or the cgroup2 mount
    bool bpfLsm = false;     // Feature::BpfLsm: exec policy through BPF LSM
    // RLIMIT_MEMLOCK when the kernel charges BPF maps to it (before Linux 5.11) and it is
    // finite: DatapathOptions::memlockLimit.
    std::optional<uint64_t> memlockLimit;

    // Every required check passed.
    bool ok() const;
    // One line per failed required check: "name: detail (fix: ...)".
    std::string problems() const;
};

// A required kernel interface is missing; what() lists each with its fix.
class PreflightError : public DatapathError {
  public:
    explicit PreflightError(PreflightReport report);
    const PreflightReport& report() const { return report_; }

  private:
    PreflightReport report_;
};

// The host as preflight sees it.
class HostInterfaces {
  public:
    virtual ~HostInterfaces() = default;
    // statfs(2)'s f_type for `path`; nullopt when it cannot be statted.
    virtual std::optional<int64_t> fsType(const std::string& path) = 0;
    // The first cgroup2 mount point in /proc/self/mountinfo; empty when none.
    virtual std::string cgroup2Mount() = 0;
    // RLIMIT_MEMLOCK in bytes once raised as far as allowed (unlimited with
    // CAP_SYS_RESOURCE, else the hard limit); nullopt: unlimited.
    virtual std::optional<uint64_t> memlockLimit() = 0;
};

// This machine: statfs and mountinfo.
class RealHost : public HostInterfaces {
  public:
    std::optional<int64_t> fsType(const std::string& path) override;
    std::string cgroup2Mount() override;
    std::optional<uint64_t> memlockLimit() override;
};

// Why a finite RLIMIT_MEMLOCK of `limit` bytes matters on a kernel that charges BPF maps
// to it, and its fix.
std::string memlockProblem(uint64_t limit);
inline constexpr const char* kMemlockFix =
    "LimitMEMLOCK=infinity, as systemd/palisade.service sets; in a container, an unlimited "
    "memlock ulimit or the capability SYS_RESOURCE";

// Every check. Never throws for a missing interface: the report says what is
// missing.
PreflightReport inspectHost(const PreflightOptions& options, Features& features,
                            HostInterfaces& host);

// The one call for the daemon, before the BPF object is loaded: inspectHost()
// on this machine, logged. Throws PreflightError when a required interface is
// missing; otherwise returns the report (cgroupRoot resolved, bpfLsm).
PreflightReport preflight(const PreflightOptions& options, Features& features);

}  // namespace palisade
