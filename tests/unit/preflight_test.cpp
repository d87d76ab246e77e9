// Preflight: every kernel interface the agent needs is checked before anything
// is loaded, each missing one named with its fix. The host and the kernel's
// features are fakes.
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
    std::string cgroup2 = "/sys/fs/cgroup/unified";

    std::optional<int64_t> fsType(const std::string& path) override {
        auto it = types.find(path);
        if (it == types.end()) return std::nullopt;
        return it->second;
    }
    std::string cgroup2Mount() override { return cgroup2; }
    std::optional<uint64_t> memlock;  // unlimited
    std::optional<uint64_t> memlockLimit() override { return memlock; }
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

// Nothing mounted but cgroup2: the agent needs no tracefs, and mounts bpffs
// itself (ensureStateDir).
TEST(Preflight, FreshHostNeedsNothingMounted) {
    FakeHost host;
    Inspection run = inspect(host);
    EXPECT_TRUE(run.report.ok()) << run.report.problems();
    EXPECT_EQ(run.report.cgroupRoot, "/sys/fs/cgroup/unified");
    EXPECT_TRUE(run.check("bpffs").ok);
    EXPECT_THAT(run.check("bpffs").detail, HasSubstr("the datapath mounts it"));
    EXPECT_THROW(run.check("tracefs"), std::runtime_error);
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

// Before Linux 5.11 maps count against RLIMIT_MEMLOCK: a limit the agent cannot raise is
// named with its fix, instead of a bare EPERM from the load (found on Debian 11's 5.10).
TEST(Preflight, MemlockMattersWhereTheKernelChargesIt) {
    FakeHost host;
    host.memlock = 64 * 1024;
    EXPECT_TRUE(inspect(host).check("memlock").ok) << "charged to the memory cgroup";
    Inspection old = inspect(host, {"", "/sys/fs/bpf/palisade"}, {Feature::MemcgAccounting});
    EXPECT_TRUE(old.report.ok()) << "what the maps need depends on the policies";
    EXPECT_FALSE(old.check("memlock").ok);
    EXPECT_FALSE(old.check("memlock").required);
    EXPECT_THAT(old.check("memlock").detail, HasSubstr("64 KiB"));
    EXPECT_THAT(old.check("memlock").fix, HasSubstr("LimitMEMLOCK=infinity"));
    EXPECT_EQ(old.report.memlockLimit, 64 * 1024);
    host.memlock.reset();
    Inspection unlimited = inspect(host, {"", "/sys/fs/bpf/palisade"}, {Feature::MemcgAccounting});
    EXPECT_TRUE(unlimited.check("memlock").ok);
    EXPECT_FALSE(unlimited.report.memlockLimit);
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
    host.types.erase("/sys/fs/bpf");
    host.cgroup2.clear();
    Inspection run = inspect(host);
    try {
        throw PreflightError(run.report);
    } catch (const DatapathError& e) {  // what the daemon already reports at start
        const std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("nothing was loaded or attached"));
        EXPECT_THAT(what, HasSubstr("  cgroup2: no cgroup2 mount"));
        EXPECT_THAT(what, HasSubstr("  bpffs: /sys/fs/bpf does not exist"));
        EXPECT_THAT(what, HasSubstr("(fix: a kernel built with CONFIG_BPF_SYSCALL=y)"));
    }
}

}  // namespace
}  // namespace palisade
