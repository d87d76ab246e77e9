// Preflight: every kernel interface the agent needs is checked before anything
// is loaded, each missing one named with its fix, and tracefs mounted where
// libbpf looks when it is missing. The host and the kernel's features are fakes.
#include "datapath/preflight.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/magic.h>

#include <cerrno>
#include <map>
#include <set>

namespace palisade {
namespace {

using ::testing::HasSubstr;

class FakeFeatures : public FeatureProbe {
  public:
    explicit FakeFeatures(std::set<Feature> absent) : absent_(std::move(absent)) {}
    bool probe(Feature f) override { return !absent_.count(f); }

  private:
    std::set<Feature> absent_;
};

// A fresh Debian 12 machine as found: cgroup2 beside cgroup v1, sysfs, and
// nothing mounted at /sys/fs/bpf, /sys/kernel/tracing or /sys/kernel/debug.
class FakeHost : public HostInterfaces {
  public:
    std::map<std::string, int64_t> types{
        {"/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC},
        {"/sys/fs/cgroup/unified/palisade", CGROUP2_SUPER_MAGIC},
        {"/sys/fs/cgroup/cpu", CGROUP_SUPER_MAGIC},
        {"/sys/fs/bpf", SYSFS_MAGIC},
        {"/sys/kernel/tracing", SYSFS_MAGIC},
        {"/sys/kernel/debug", SYSFS_MAGIC},
    };
    // The files tracefs has once mounted at the key.
    std::map<std::string, std::set<std::string>> tracefsFiles{
        {"/sys/kernel/tracing",
         {"/sys/kernel/tracing/events/syscalls/sys_enter_socket/id",
          "/sys/kernel/tracing/events/syscalls/sys_enter_execve/id"}},
        {"/sys/kernel/debug/tracing",
         {"/sys/kernel/debug/tracing/events/syscalls/sys_enter_socket/id",
          "/sys/kernel/debug/tracing/events/syscalls/sys_enter_execve/id"}},
    };
    std::set<std::string> files;
    std::string cgroup2 = "/sys/fs/cgroup/unified";
    std::vector<std::string> lsmTracepoints{"syscalls/sys_enter_socket"};
    std::vector<std::string> fallbackTracepoints{"syscalls/sys_enter_socket",
                                                 "syscalls/sys_enter_execve"};
    int mountErrno = 0;
    std::vector<std::pair<std::string, std::string>> mounts;

    std::optional<int64_t> fsType(const std::string& path) override {
        auto it = types.find(path);
        if (it == types.end()) return std::nullopt;
        return it->second;
    }
    bool exists(const std::string& path) override { return types.count(path); }
    bool readable(const std::string& path) override { return files.count(path); }
    int mount(const std::string& fstype, const std::string& target) override {
        mounts.emplace_back(fstype, target);
        if (mountErrno) return mountErrno;
        types[target] = TRACEFS_MAGIC;
        files.insert(tracefsFiles[target].begin(), tracefsFiles[target].end());
        return 0;
    }
    std::string cgroup2Mount() override { return cgroup2; }
    std::vector<std::string> tracepoints(bool bpfLsm) override {
        return bpfLsm ? lsmTracepoints : fallbackTracepoints;
    }
};

struct Inspection {
    PreflightReport report;
    const PreflightCheck& check(const std::string& name) const {
        for (const auto& c : report.checks) {
            if (c.name == name) return c;
        }
        throw std::runtime_error("no check " + name);
    }
};

Inspection inspect(FakeHost& host, PreflightOptions options = {"", "/sys/fs/bpf/palisade"},
                   std::set<Feature> absent = {}) {
    Features features(std::make_unique<FakeFeatures>(std::move(absent)));
    return {inspectHost(options, features, host)};
}

TEST(Preflight, FreshHostMountsTracefsWhereLibbpfLooks) {
    FakeHost host;
    Inspection run = inspect(host);
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    ASSERT_EQ(host.mounts.size(), 1u);
    EXPECT_EQ(host.mounts[0],
              std::make_pair(std::string("tracefs"), std::string("/sys/kernel/tracing")));
    EXPECT_EQ(run.report.mounted, std::vector<std::string>{"tracefs at /sys/kernel/tracing"});
    EXPECT_EQ(run.report.cgroupRoot, "/sys/fs/cgroup/unified");
    EXPECT_TRUE(run.check("tracefs").ok);
    // bpffs is the datapath's to mount (ensureStateDir): preflight agrees and leaves it.
    EXPECT_TRUE(run.check("bpffs").ok);
    EXPECT_THAT(run.check("bpffs").detail, HasSubstr("the datapath mounts it"));
}

TEST(Preflight, MountedTracefsIsLeftAlone) {
    FakeHost host;
    host.types["/sys/kernel/tracing"] = TRACEFS_MAGIC;
    host.files = host.tracefsFiles["/sys/kernel/tracing"];
    Inspection run = inspect(host);
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    EXPECT_TRUE(host.mounts.empty());
    EXPECT_TRUE(run.report.mounted.empty());
}

TEST(Preflight, DebugfsTracingWinsAsInLibbpf) {
    FakeHost host;
    host.types["/sys/kernel/debug"] = DEBUGFS_MAGIC;          // debugfs mounted, and in it
    host.types["/sys/kernel/debug/tracing"] = DEBUGFS_MAGIC;  // a tracing dir, not tracefs
    EXPECT_EQ(libbpfTracefsPath(host), "/sys/kernel/debug/tracing");
    Inspection run = inspect(host);
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    ASSERT_EQ(host.mounts.size(), 1u);
    EXPECT_EQ(host.mounts[0].second, "/sys/kernel/debug/tracing");

    FakeHost plain;
    EXPECT_EQ(libbpfTracefsPath(plain), "/sys/kernel/tracing");
}

TEST(Preflight, TracefsMountRefusedSaysWhatWhyAndTheCommand) {
    FakeHost host;
    host.mountErrno = EPERM;
    Inspection run = inspect(host);
    EXPECT_FALSE(run.report.ok());
    const PreflightCheck& t = run.check("tracefs");
    EXPECT_FALSE(t.ok);
    EXPECT_TRUE(t.required);
    EXPECT_THAT(t.detail, HasSubstr("not mounted at /sys/kernel/tracing"));
    EXPECT_THAT(t.detail, HasSubstr("Operation not permitted"));
    EXPECT_THAT(t.detail, HasSubstr("syscalls/sys_enter_socket"));
    EXPECT_THAT(t.fix, HasSubstr("mount -t tracefs nodev /sys/kernel/tracing"));
    EXPECT_THAT(run.report.problems(), HasSubstr("tracefs: "));
    EXPECT_TRUE(run.report.mounted.empty());
}

TEST(Preflight, TracefsNotMountedWhenNotAllowed) {
    FakeHost host;
    Inspection run = inspect(host, {"", "/sys/fs/bpf/palisade", false});
    EXPECT_TRUE(host.mounts.empty());
    EXPECT_FALSE(run.check("tracefs").ok);
    EXPECT_EQ(run.check("tracefs").fix, "mount -t tracefs nodev /sys/kernel/tracing");
}

TEST(Preflight, KernelWithoutTracefs) {
    FakeHost host;
    host.types.erase("/sys/kernel/tracing");
    Inspection run = inspect(host);
    EXPECT_TRUE(host.mounts.empty());
    EXPECT_FALSE(run.check("tracefs").ok);
    EXPECT_THAT(run.check("tracefs").detail, HasSubstr("does not exist"));
}

TEST(Preflight, MissingSyscallTracepoint) {
    FakeHost host;
    host.tracefsFiles["/sys/kernel/tracing"] = {};  // CONFIG_FTRACE_SYSCALLS=n
    Inspection run = inspect(host);
    EXPECT_FALSE(run.check("tracefs").ok);
    EXPECT_THAT(run.check("tracefs").detail, HasSubstr("no tracepoint syscalls/sys_enter_socket"));
    EXPECT_THAT(run.check("tracefs").fix, HasSubstr("CONFIG_FTRACE_SYSCALLS"));
}

TEST(Preflight, NoTracepointProgramsNoTracefs) {
    FakeHost host;
    host.lsmTracepoints.clear();
    host.fallbackTracepoints.clear();
    Inspection run = inspect(host);
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    EXPECT_TRUE(host.mounts.empty());
    EXPECT_THAT(run.check("tracefs").detail, HasSubstr("not needed"));
}

TEST(Preflight, TracepointsOfTheExecMechanismInUse) {
    FakeHost host;
    host.lsmTracepoints = {"syscalls/sys_enter_socket"};
    host.fallbackTracepoints = {"syscalls/sys_enter_socket", "syscalls/sys_enter_nothing"};
    Inspection withLsm =
        inspect(host);  // BPF LSM present: the fallback's tracepoints are not loaded
    EXPECT_TRUE(withLsm.report.bpfLsm);
    EXPECT_TRUE(withLsm.report.ok()) << withLsm.report.problems();

    FakeHost other = host;
    other.mounts.clear();
    Inspection without = inspect(other, {"", "/sys/fs/bpf/palisade"}, {Feature::BpfLsm});
    EXPECT_FALSE(without.report.bpfLsm);
    EXPECT_THAT(without.check("tracefs").detail, HasSubstr("syscalls/sys_enter_nothing"));
}

TEST(Preflight, BpfLsmIsOptional) {
    FakeHost host;
    Inspection run =
        inspect(host, {"", "/sys/fs/bpf/palisade"}, {Feature::BpfLsm, Feature::BpfLsmType});
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    EXPECT_FALSE(run.report.bpfLsm);
    const PreflightCheck& lsm = run.check("bpf-lsm");
    EXPECT_FALSE(lsm.ok);
    EXPECT_FALSE(lsm.required);
    EXPECT_THAT(lsm.detail, HasSubstr("tp_btf/sched_process_exec"));
    EXPECT_THAT(lsm.fix, HasSubstr("lsm="));
    EXPECT_EQ(run.report.problems(), "");
}

TEST(Preflight, MissingBpfFeaturesAreNamed) {
    FakeHost host;
    Inspection run =
        inspect(host, {"", "/sys/fs/bpf/palisade"}, {Feature::Btf, Feature::CgroupSkb});
    EXPECT_FALSE(run.report.ok());
    EXPECT_THAT(run.check("btf").fix, HasSubstr("CONFIG_DEBUG_INFO_BTF=y"));
    EXPECT_THAT(run.check("btf").detail, HasSubstr("/sys/kernel/btf/vmlinux"));
    EXPECT_FALSE(run.check("cgroup-skb").ok);
    EXPECT_THROW(run.check("bpf"), std::runtime_error);  // only when nothing is missing
}

TEST(Preflight, CgroupRoot) {
    {
        FakeHost host;
        Inspection run = inspect(host, {"/sys/fs/cgroup/unified/palisade", "/sys/fs/bpf/palisade"});
        EXPECT_TRUE(run.check("cgroup2").ok);
        EXPECT_EQ(run.report.cgroupRoot, "/sys/fs/cgroup/unified/palisade");
    }
    {
        FakeHost host;
        Inspection run = inspect(host, {"/sys/fs/cgroup/cpu", "/sys/fs/bpf/palisade"});
        EXPECT_FALSE(run.check("cgroup2").ok);
        EXPECT_THAT(run.check("cgroup2").detail, HasSubstr("not a cgroup v2 directory"));
        EXPECT_THAT(run.check("cgroup2").detail, HasSubstr("cgroup v1"));
        EXPECT_THAT(run.check("cgroup2").fix, HasSubstr("/sys/fs/cgroup/unified"));
    }
    {
        FakeHost host;
        Inspection run = inspect(host, {"/sys/fs/cgroup/unified/nope", "/sys/fs/bpf/palisade"});
        EXPECT_THAT(run.check("cgroup2").detail, HasSubstr("does not exist"));
    }
    {
        FakeHost host;
        host.cgroup2.clear();
        Inspection run = inspect(host);
        EXPECT_FALSE(run.check("cgroup2").ok);
        EXPECT_THAT(run.check("cgroup2").fix, HasSubstr("mount -t cgroup2"));
    }
}

// The same decision as ensureStateDir() in bpf_datapath.cpp.
TEST(Preflight, StateDirOnBpffs) {
    {
        FakeHost host;  // bpffs mounted, stateDir not created yet
        host.types["/sys/fs/bpf"] = BPF_FS_MAGIC;
        Inspection run = inspect(host);
        EXPECT_TRUE(run.check("bpffs").ok);
        EXPECT_THAT(run.check("bpffs").detail, HasSubstr("is on bpffs"));
    }
    {
        FakeHost host;  // a bpffs of its own elsewhere (the DaemonSet's hostPath)
        host.types["/var/run/palisade/bpf"] = BPF_FS_MAGIC;
        Inspection run = inspect(host, {"", "/var/run/palisade/bpf"});
        EXPECT_TRUE(run.check("bpffs").ok);
    }
    {
        FakeHost host;  // elsewhere, no bpffs: the operator's job
        host.types["/var/lib"] = 0xef53;
        Inspection run = inspect(host, {"", "/var/lib/palisade"});
        EXPECT_FALSE(run.check("bpffs").ok);
        EXPECT_EQ(run.check("bpffs").fix,
                  "mount -t bpf bpf /var/lib (or set stateDir below /sys/fs/bpf, where the agent "
                  "mounts bpffs itself)");
    }
    {
        FakeHost host;  // no /sys/fs/bpf at all
        host.types.erase("/sys/fs/bpf");
        Inspection run = inspect(host);
        EXPECT_FALSE(run.check("bpffs").ok);
        EXPECT_THAT(run.check("bpffs").fix, HasSubstr("CONFIG_BPF_SYSCALL"));
    }
}

TEST(Preflight, ErrorListsEveryProblem) {
    FakeHost host;
    host.mountErrno = EPERM;
    host.cgroup2.clear();
    Inspection run = inspect(host);
    try {
        throw PreflightError(run.report);
    } catch (const DatapathError& e) {  // what the daemon already reports at start
        const std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("nothing was loaded or attached"));
        EXPECT_THAT(what, HasSubstr("  cgroup2: no cgroup2 mount"));
        EXPECT_THAT(what, HasSubstr("  tracefs: tracefs is not mounted"));
        EXPECT_THAT(what, HasSubstr("(fix: mount -t tracefs nodev /sys/kernel/tracing"));
    }
}

// The real BPF object, opened (not loaded): no root, no kernel needed.
TEST(Preflight, RealObjectTracepoints) {
    RealHost host;
    const auto fallback = host.tracepoints(false);
    const auto lsm = host.tracepoints(true);
    for (const auto& tp : fallback) {
        EXPECT_EQ(std::count(tp.begin(), tp.end(), '/'), 1) << tp;  // category/name
    }
    for (const auto& tp : lsm) {  // with BPF LSM, a subset (the exec fallback is not loaded)
        EXPECT_NE(std::find(fallback.begin(), fallback.end(), tp), fallback.end()) << tp;
    }
    EXPECT_LE(lsm.size(), fallback.size());
}

}  // namespace
}  // namespace palisade
