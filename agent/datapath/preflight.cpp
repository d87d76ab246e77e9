#include "datapath/preflight.h"

#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/statfs.h>

#include <cstdio>
#include <filesystem>
#include <utility>

#include "containers/container.h"

namespace fs = std::filesystem;

namespace palisade {
namespace {

// Where the datapath mounts bpffs itself (bpf_datapath.cpp, ensureStateDir).
constexpr const char* kBpffsRoot = "/sys/fs/bpf";

std::string fsName(int64_t type) {
    switch (type) {
        case CGROUP2_SUPER_MAGIC:
            return "cgroup2";
        case CGROUP_SUPER_MAGIC:
            return "cgroup v1";
        case BPF_FS_MAGIC:
            return "bpffs";
        case SYSFS_MAGIC:
            return "sysfs";
        case TMPFS_MAGIC:
            return "tmpfs";
        default: {
            char hex[32];
            std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(type));
            return std::string("a filesystem of type ") + hex;
        }
    }
}

PreflightCheck passed(std::string name, std::string detail, bool required = true) {
    return {std::move(name), true, required, std::move(detail), ""};
}

PreflightCheck missing(std::string name, std::string detail, std::string fix,
                       bool required = true) {
    return {std::move(name), false, required, std::move(detail), std::move(fix)};
}

PreflightCheck checkCgroup(const PreflightOptions& options, HostInterfaces& host,
                           std::string& root) {
    const std::string mountPoint = host.cgroup2Mount();
    const std::string mountFix =
        "mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 none /sys/fs/cgroup/unified "
        "(or boot with systemd.unified_cgroup_hierarchy=1)";
    root = options.cgroupRoot.empty() ? mountPoint : options.cgroupRoot;
    if (root.empty()) {
        return missing("cgroup2",
                       "no cgroup2 mount in /proc/self/mountinfo: the agent attaches its "
                       "programs to a cgroup v2 directory",
                       mountFix);
    }
    const auto type = host.fsType(root);
    if (!type) {
        return missing("cgroup2", "cgroupRoot " + root + " does not exist",
                       "mkdir " + root +
                           " (inside a cgroup2 mount), or set cgroupRoot to an existing cgroup v2 "
                           "directory");
    }
    if (*type != CGROUP2_SUPER_MAGIC) {
        return missing(
            "cgroup2",
            "cgroupRoot " + root + " is not a cgroup v2 directory (it is on " + fsName(*type) + ")",
            mountPoint.empty() ? mountFix
                               : "set cgroupRoot to " + mountPoint +
                                     " or a directory below it (the cgroup2 mount)");
    }
    return passed("cgroup2", "cgroupRoot " + root + " is a cgroup v2 directory");
}

// The same decision as ensureStateDir() in bpf_datapath.cpp, which mounts
// bpffs at /sys/fs/bpf when stateDir is below it and neither stateDir nor its
// parent is on bpffs yet; anywhere else a missing bpffs is the operator's job.
PreflightCheck checkBpffs(const PreflightOptions& options, HostInterfaces& host) {
    const std::string& stateDir = options.stateDir;
    const std::string parent = fs::path(stateDir).parent_path().string();
    if (host.fsType(parent) == BPF_FS_MAGIC || host.fsType(stateDir) == BPF_FS_MAGIC) {
        return passed("bpffs", "stateDir " + stateDir + " is on bpffs");
    }
    const std::string root = kBpffsRoot;
    if (stateDir.rfind(root + "/", 0) == 0) {
        if (!host.fsType(root)) {
            return missing("bpffs",
                           root +
                               " does not exist: the kernel has no bpf filesystem to pin "
                               "maps and links in",
                           "a kernel built with CONFIG_BPF_SYSCALL=y");
        }
        return passed("bpffs", "bpffs is not mounted at " + root +
                                   ": the datapath mounts it there before pinning");
    }
    return missing(
        "bpffs",
        "stateDir " + stateDir + " is not on a bpf filesystem: maps and links are pinned there",
        "mount -t bpf bpf " + parent + " (or set stateDir below " + root +
            ", where the agent mounts bpffs itself)");
}

std::string featureFix(Feature f) {
    switch (f) {
        case Feature::Btf:
            return "a kernel built with CONFIG_DEBUG_INFO_BTF=y (/sys/kernel/btf/vmlinux)";
        case Feature::RingBuf:
            return "Linux 5.8 or later (BPF_MAP_TYPE_RINGBUF); the probe also fails without "
                   "CAP_BPF or CAP_SYS_ADMIN";
        default:
            return "a kernel built with CONFIG_BPF_SYSCALL=y and CONFIG_CGROUP_BPF=y; the probe "
                   "also fails without CAP_BPF or CAP_SYS_ADMIN";
    }
}

std::string featureWhy(Feature f) {
    switch (f) {
        case Feature::Btf:
            return "kernel BTF (/sys/kernel/btf/vmlinux) is missing: CO-RE relocations, tp_btf and "
                   "lsm programs need it";
        case Feature::CgroupSockAddr:
            return "cgroup sock_addr programs (connect and sendmsg policy) cannot be loaded";
        case Feature::CgroupSock:
            return "cgroup/sock_create programs (raw and packet sockets) cannot be loaded";
        case Feature::CgroupSkb:
            return "cgroup_skb programs (the packet-level check) cannot be loaded";
        case Feature::RingBuf:
            return "BPF ring buffers (events) cannot be created";
        case Feature::LpmTrie:
            return "LPM trie maps (CIDR rules) cannot be created";
        default:
            return "the kernel lacks " + featureName(f);
    }
}

// Before Linux 5.11 maps count against RLIMIT_MEMLOCK (64 KiB by default) instead of the
// memory cgroup. How much the maps need depends on the policies, so a limit is not refused
// here: it is reported, and named in the load's error if the maps do not fit (memlockProblem).
PreflightCheck checkMemlock(Features& features, HostInterfaces& host,
                            std::optional<uint64_t>& limit) {
    if (features.has(Feature::MemcgAccounting)) {
        return passed("memlock", "BPF memory is charged to the memory cgroup");
    }
    limit = host.memlockLimit();
    if (!limit) return passed("memlock", "RLIMIT_MEMLOCK is unlimited");
    return missing("memlock", memlockProblem(*limit) + ": loading may fail", kMemlockFix, false);
}

}  // namespace

std::string memlockProblem(uint64_t limit) {
    return "this kernel (before Linux 5.11) charges BPF maps to RLIMIT_MEMLOCK, which is " +
           std::to_string(limit / 1024) +
           " KiB for the agent and cannot be raised without CAP_SYS_RESOURCE";
}

bool PreflightReport::ok() const {
    for (const auto& c : checks) {
        if (c.required && !c.ok) return false;
    }
    return true;
}

std::string PreflightReport::problems() const {
    std::string out;
    for (const auto& c : checks) {
        if (c.required && !c.ok) out += "  " + c.name + ": " + c.detail + " (fix: " + c.fix + ")\n";
    }
    return out;
}

PreflightError::PreflightError(PreflightReport report)
    : DatapathError("this host lacks what the agent needs; nothing was loaded or attached:\n" +
                    report.problems()),
      report_(std::move(report)) {}

std::optional<int64_t> RealHost::fsType(const std::string& path) {
    struct statfs st {};
    if (statfs(path.c_str(), &st) != 0) return std::nullopt;
    return static_cast<int64_t>(st.f_type);
}

std::string RealHost::cgroup2Mount() { return findCgroup2Mount(); }

std::optional<uint64_t> RealHost::memlockLimit() {
    const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    rlimit now{};
    if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0 || getrlimit(RLIMIT_MEMLOCK, &now) != 0) {
        return std::nullopt;
    }
    // Without CAP_SYS_RESOURCE the soft limit can still go up to the hard one.
    now.rlim_cur = now.rlim_max;
    setrlimit(RLIMIT_MEMLOCK, &now);
    if (now.rlim_cur == RLIM_INFINITY) return std::nullopt;
    return now.rlim_cur;
}

PreflightReport inspectHost(const PreflightOptions& options, Features& features,
                            HostInterfaces& host) {
    PreflightReport report;
    report.checks.push_back(checkCgroup(options, host, report.cgroupRoot));
    report.checks.push_back(checkBpffs(options, host));

    const std::vector<Feature> lacking = features.missingForEnforcement();
    for (Feature f : lacking)
        report.checks.push_back(missing(featureName(f), featureWhy(f), featureFix(f)));
    if (lacking.empty()) {
        report.checks.push_back(passed("bpf",
                                       "kernel BTF, cgroup sock_addr, sock and skb "
                                       "programs, ring buffer and LPM trie maps"));
    }

    report.checks.push_back(checkMemlock(features, host, report.memlockLimit));

    report.bpfLsm = features.has(Feature::BpfLsm);
    if (report.bpfLsm) {
        report.checks.push_back(
            passed("bpf-lsm",
                   "exec policy and packet sockets through lsm/bprm_creds_from_file and "
                   "lsm/socket_create (EPERM)",
                   false));
    } else {
        report.checks.push_back(
            missing("bpf-lsm",
                    "BPF LSM is not in use: exec policy falls back to tp_btf/sched_process_exec "
                    "and packet sockets to tp_btf/sys_enter (a refused exec or packet socket is "
                    "killed instead of failing with EPERM; io_uring's sockets are not seen)",
                    "boot with bpf in the lsm= list (CONFIG_BPF_LSM=y), e.g. lsm=<the list in "
                    "/sys/kernel/security/lsm>,bpf",
                    false));
    }
    return report;
}

PreflightReport preflight(const PreflightOptions& options, Features& features) {
    RealHost host;
    PreflightReport report = inspectHost(options, features, host);
    for (const auto& c : report.checks) {
        if (c.ok) {
            spdlog::debug("preflight {}: {}", c.name, c.detail);
        } else if (!c.required) {
            spdlog::info("preflight {}: {} (to change it: {})", c.name, c.detail, c.fix);
        }
    }
    if (!report.ok()) throw PreflightError(std::move(report));
    return report;
}

}  // namespace palisade
