// containers/netns_addresses.h: a container's addresses as /proc/<pid>/net
// shows them, read without entering its network namespace.
#include "containers/netns_addresses.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"

namespace palisade {
namespace {

std::vector<std::string> strs(const std::vector<IpAddress>& in) {
    std::vector<std::string> out;
    for (const IpAddress& a : in) out.push_back(a.str());
    return out;
}

// As Linux 6.18 prints it for a namespace with lo, an address on lo and a veth.
constexpr const char* kFibTrie = R"(Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     +-- 198.18.76.0/22 2 1 2
        +-- 198.18.77.0/24 2 0 2
           +-- 198.18.77.0/30 2 0 2
              |-- 198.18.77.0
                 /24 link UNICAST
              |-- 198.18.77.2
                 /32 host LOCAL
           |-- 198.18.77.255
              /32 link BROADCAST
        |-- 198.18.78.9
           /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     +-- 198.18.76.0/22 2 1 2
              |-- 198.18.77.2
                 /32 host LOCAL
)";

TEST(NetnsAddresses, FibTrieGivesTheLocalAddressesButLoopback) {
    EXPECT_EQ(strs(parseFibTrieLocal(kFibTrie)),
              (std::vector<std::string>{"198.18.77.2", "198.18.78.9"}));
}

TEST(NetnsAddresses, FibTrieRouteLinesCountOnlyForTheirOwnLeaf) {
    // A "/32 host LOCAL" after an internal node or a header belongs to no leaf.
    EXPECT_TRUE(parseFibTrieLocal("  +-- 10.0.0.0/8 2 0 2\n     /32 host LOCAL\n").empty());
    EXPECT_TRUE(parseFibTrieLocal("|-- not-an-address\n  /32 host LOCAL\n").empty());
    EXPECT_TRUE(parseFibTrieLocal("").empty());
    EXPECT_EQ(strs(parseFibTrieLocal("|-- 10.1.2.3\n  /24 link UNICAST\n  /32 host LOCAL")),
              std::vector<std::string>{"10.1.2.3"});
}

TEST(NetnsAddresses, IfInet6GivesEveryAddressButHostScope) {
    const char* text =
        "00000000000000000000000000000001 01 80 10 80       lo\n"
        "fd000000000000000000000000770002 03 40 00 c0       v0\n"
        "fe80000000000000805c97fffe2a2792 03 40 20 80       v0\n"
        "garbage\n"
        "fd00000000000000000000000077zz02 03 40 00 c0       v0\n";
    EXPECT_EQ(strs(parseIfInet6(text)),
              (std::vector<std::string>{"fd00::77:2", "fe80::805c:97ff:fe2a:2792"}));
}

// A container whose addresses cannot be read is said so, with why, not
// passed over as one without a process (docs/reference/enforcement.md#inter-container).
// "Cgroups" here are plain directories with a cgroup.procs file.
TEST(NetnsAddresses, UnreadableContainersAreReportedWithWhy) {
    palisade::testing::TempDir dir;
    auto container = [&](const std::string& name, const std::string& procs, uint64_t id) {
        const std::string path = dir.path().string() + "/" + name;
        std::filesystem::create_directories(path);
        std::ofstream(path + "/cgroup.procs") << procs;
        std::ofstream(path + "/cgroup.events") << "populated " << !procs.empty() << "\nfrozen 0\n";
        Container c;
        c.id = name;
        c.cgroupPath = path;
        c.cgroupId = id;
        return c;
    };
    // cgroup.procs shows 0 for a process of another PID namespace.
    const Container otherPidns = container("other-pidns", "0\n0\n", 1);
    // A process listed in the cgroup with no /proc entry: hidepid, ProtectProc.
    const Container hidden = container("hidden", "4194304\n", 2);
    const Container empty = container("empty", "", 3);
    const Container host = container("host", std::to_string(getpid()) + "\n", 4);

    AddressLearner learner;
    const LearnedAddresses got = learner.learn({otherPidns, hidden, empty, host});
    ASSERT_EQ(got.unreadable.size(), 2u);
    EXPECT_NE(got.unreadable.at(1).find("hostPID"), std::string::npos) << got.unreadable.at(1);
    EXPECT_NE(got.unreadable.at(2).find("/proc/4194304 is hidden"), std::string::npos)
        << got.unreadable.at(2);
    // The test's own process is in the agent's network namespace: host network,
    // no address of its own, and nothing wrong.
    EXPECT_TRUE(got.byContainer.empty());
}

// A child process in a network namespace of its own, named `name` (its comm), until
// the end of the test; pid 0 when this host lets no one make a network namespace.
class ProcessInNetns {
  public:
    explicit ProcessInNetns(const char* name) {
        int ready[2];
        if (pipe(ready) != 0) return;
        pid_ = fork();
        if (pid_ == 0) {
            close(ready[0]);
            // Root makes a network namespace; anyone else may, inside a user namespace.
            if (unshare(CLONE_NEWNET) != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
                _exit(1);
            }
            prctl(PR_SET_NAME, name);
            if (write(ready[1], "x", 1) != 1) _exit(1);
            pause();
            _exit(0);
        }
        close(ready[1]);
        char byte = 0;
        if (pid_ < 0 || read(ready[0], &byte, 1) != 1) stop();
        close(ready[0]);
    }
    ~ProcessInNetns() { stop(); }
    pid_t pid() const { return pid_; }
    // The inode of its fib_trie: LearnedAddresses::netnsOf names namespaces by it.
    uint64_t netns() const {
        struct stat st {};
        stat(("/proc/" + std::to_string(pid_) + "/net/fib_trie").c_str(), &st);
        return st.st_ino;
    }

  private:
    void stop() {
        if (pid_ <= 0) return;
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = 0;
    }
    pid_t pid_ = 0;
};

// One container's "cgroup": a directory with a cgroup.procs file, cgroup id `id`.
struct FakeCgroup {
    explicit FakeCgroup(uint64_t id) {
        c.id = "c";
        c.cgroupPath = dir.path().string();
        c.cgroupId = id;
    }
    // cgroup.procs lists `pids`, in that order.
    void holds(std::initializer_list<pid_t> pids) {
        std::ofstream procs(c.cgroupPath + "/cgroup.procs", std::ios::trunc);
        for (pid_t pid : pids) procs << pid << "\n";
    }
    palisade::testing::TempDir dir;
    Container c;
};

// runc puts `runc init` in the container's cgroup while it is still in the runtime's
// network namespace (runc:[0:PARENT], runc:[1:CHILD]), and address passes run as
// often as containers change: the runtime's namespace, whose addresses are not the
// container's, must not settle as the container's however soon passes follow each
// other. A CI run had a container own the bridge's address that way.
TEST(NetnsAddresses, RuncSetUpIsPassedOverAndANamespaceSettlesOverTime) {
    ProcessInNetns runtime("runc:[0:PARENT]");
    ProcessInNetns container("sleep");
    if (!runtime.pid() || !container.pid()) GTEST_SKIP() << "no network namespace can be made";
    FakeCgroup cgroup(7);
    const Container& c = cgroup.c;
    AddressLearner learner;
    cgroup.holds({runtime.pid()});
    for (int pass = 0; pass < 3; pass++) {
        EXPECT_FALSE(learner.learn({c}).netnsOf.count(7)) << "pass " << pass;
    }

    // runc's stage listed first, the container's process after it.
    cgroup.holds({runtime.pid(), container.pid()});
    EXPECT_FALSE(learner.learn({c}).netnsOf.count(7)) << "seen once";
    EXPECT_FALSE(learner.learn({c}).netnsOf.count(7)) << "seen twice, at once";
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    const LearnedAddresses settled = learner.learn({c});
    ASSERT_TRUE(settled.netnsOf.count(7));
    EXPECT_EQ(settled.netnsOf.at(7), container.netns());
    EXPECT_TRUE(settled.byContainer.at(7).empty()) << "a new namespace has only loopback";
}

// Any process can call itself runc:[0:PARENT]: an old one is taken for what it is, so
// that a container cannot keep its namespace from ever counting.
TEST(NetnsAddresses, AnOldProcessNamedLikeRuncSetUpCounts) {
    ProcessInNetns named("runc:[1:CHILD]");
    if (!named.pid()) GTEST_SKIP() << "no network namespace can be made";
    FakeCgroup cgroup(8);
    const Container& c = cgroup.c;
    cgroup.holds({named.pid()});
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    AddressLearner learner;
    const LearnedAddresses got = learner.learn({c});
    ASSERT_TRUE(got.netnsOf.count(8));
    EXPECT_EQ(got.netnsOf.at(8), named.netns());
}

// After a container's first seconds a young process named like runc's set-up counts like
// any other: a container cannot keep its namespace from ever settling by always having
// one listed first.
TEST(NetnsAddresses, RuncSetUpNamesCountOnlyInAContainersFirstSeconds) {
    ProcessInNetns named("runc:[0:PARENT]");
    if (!named.pid()) GTEST_SKIP() << "no network namespace can be made";
    FakeCgroup cgroup(9);
    const Container& c = cgroup.c;
    cgroup.holds({named.pid()});
    AddressLearner learner(
        {.settle = std::chrono::milliseconds(100), .setUpWindow = std::chrono::milliseconds(300)});
    EXPECT_FALSE(learner.learn({c}).netnsOf.count(9));
    std::this_thread::sleep_for(std::chrono::milliseconds(350));
    EXPECT_FALSE(learner.learn({c}).netnsOf.count(9)) << "seen once, young";
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    const LearnedAddresses got = learner.learn({c});
    ASSERT_TRUE(got.netnsOf.count(9));
    EXPECT_EQ(got.netnsOf.at(9), named.netns());
}

// forgetNamespaces() (the agent's resync) looks every container up again, and what was
// settled stays until the new namespace settles: the container's addresses do not go
// missing in between.
TEST(NetnsAddresses, ASettledNamespaceStaysUntilAnotherSettles) {
    ProcessInNetns first("sleep");
    ProcessInNetns second("sleep");
    if (!first.pid() || !second.pid()) GTEST_SKIP() << "no network namespace can be made";
    FakeCgroup cgroup(5);
    const Container& c = cgroup.c;
    AddressLearner learner(
        {.settle = std::chrono::milliseconds(100), .setUpWindow = std::chrono::milliseconds(5000)});
    cgroup.holds({first.pid()});
    learner.learn({c});
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ASSERT_EQ(learner.learn({c}).netnsOf.at(5), first.netns());

    cgroup.holds({second.pid()});
    EXPECT_EQ(learner.learn({c}).netnsOf.at(5), first.netns()) << "not looked up again";
    learner.forgetNamespaces();
    EXPECT_EQ(learner.learn({c}).netnsOf.at(5), first.netns()) << "the new one is not settled";
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    EXPECT_EQ(learner.learn({c}).netnsOf.at(5), second.netns());
}

IpAddress v4(uint8_t d) { return IpAddress{4, {198, 18, 0, d}}; }

// Cgroup ids 10 and 20 in namespaces 1 and 2, both holding 198.18.0.11; 30 shares
// namespace 1 with 10 (a pod).
LearnedAddresses twoNamespacesOneAddress() {
    LearnedAddresses l;
    l.byContainer = {{10, {v4(11)}}, {20, {v4(11), v4(12)}}, {30, {v4(11)}}};
    l.netnsOf = {{10, 1}, {20, 2}, {30, 1}};
    return l;
}

// 10 and 30 (a pod) keep 198.18.0.11; 20 is refused it.
void expectNamespaceOneOwnsIt(LearnedAddresses& l) {
    EXPECT_EQ(strs(l.byContainer[10]), std::vector<std::string>{"198.18.0.11"});
    EXPECT_EQ(strs(l.byContainer[30]), std::vector<std::string>{"198.18.0.11"}) << "a pod shares";
    EXPECT_EQ(strs(l.byContainer[20]), std::vector<std::string>{"198.18.0.12"});
    ASSERT_EQ(l.conflicts.size(), 1u);
    EXPECT_EQ(l.conflicts[20].at(v4(11)), 10u);
}

TEST(AddressOwners, TheOldestCgroupKeepsAnAddressTwoNamespacesHold) {
    LearnedAddresses l = twoNamespacesOneAddress();
    resolveAddressOwners(l, {}, {});
    expectNamespaceOneOwnsIt(l);
}

// An address added to a newer container's namespace never takes it from its owner:
// the owner of the last pass keeps it, whatever the cgroup ids.
TEST(AddressOwners, TheLastOwnerKeepsItsAddress) {
    LearnedAddresses before;
    before.byContainer = {{20, {v4(11)}}};
    before.netnsOf = {{20, 2}};
    LearnedAddresses l = twoNamespacesOneAddress();
    resolveAddressOwners(l, before, {});
    EXPECT_EQ(strs(l.byContainer[20]), (std::vector<std::string>{"198.18.0.11", "198.18.0.12"}));
    EXPECT_TRUE(l.byContainer[10].empty());
    EXPECT_TRUE(l.byContainer[30].empty());
    EXPECT_EQ(l.conflicts[10].at(v4(11)), 20u);
    EXPECT_EQ(l.conflicts[30].at(v4(11)), 20u);
}

// A container can add the address the runtime will give the next container before that
// one starts, and so own it first: the runtime's record outranks the last owner.
TEST(AddressOwners, TheRuntimesRecordOutranksTheLastOwner) {
    LearnedAddresses before;
    before.byContainer = {{20, {v4(11)}}};
    before.netnsOf = {{20, 2}};
    LearnedAddresses l = twoNamespacesOneAddress();
    resolveAddressOwners(l, before, {{v4(11), {10}}});
    expectNamespaceOneOwnsIt(l);
}

// Until the container the runtime gave an address to is learned, no one else has it.
TEST(AddressOwners, ARecordedAddressGoesToNoOneElseBeforeItsOwnerIsLearned) {
    LearnedAddresses l = twoNamespacesOneAddress();
    resolveAddressOwners(l, {}, {{v4(11), {40}}});
    EXPECT_TRUE(l.byContainer[10].empty());
    EXPECT_TRUE(l.byContainer[30].empty());
    EXPECT_EQ(strs(l.byContainer[20]), std::vector<std::string>{"198.18.0.12"});
    for (uint64_t cgid : {10, 20, 30}) EXPECT_EQ(l.conflicts[cgid].at(v4(11)), 40u) << cgid;
}

// A pod's containers all record the pod's address: it goes to the first of them whose
// namespace is known, and the rest of the pod shares it.
// A record whose containers' namespaces are known and lack the address is stale (a
// docker network left, a sandbox made again): it counts for nothing.
TEST(AddressOwners, AStaleRecordCountsForNothing) {
    LearnedAddresses l = twoNamespacesOneAddress();
    l.byContainer[40] = {v4(13)};
    l.netnsOf[40] = 4;
    resolveAddressOwners(l, {}, {{v4(11), {40}}});
    EXPECT_EQ(strs(l.byContainer[10]), std::vector<std::string>{"198.18.0.11"});
    EXPECT_EQ(l.conflicts[20].at(v4(11)), 10u);
    EXPECT_FALSE(l.conflicts.count(10));
}

// Two holders that the records both give the address to (overlapping networks): the
// owner of the last pass keeps it, else the oldest cgroup.
TEST(AddressOwners, AmongRecordedHoldersTheLastOwnerKeepsIt) {
    LearnedAddresses before;
    before.byContainer = {{20, {v4(11)}}};
    before.netnsOf = {{20, 2}};
    const std::map<IpAddress, std::vector<uint64_t>> recorded{{v4(11), {10, 20}}};
    LearnedAddresses l = twoNamespacesOneAddress();
    resolveAddressOwners(l, before, recorded);
    EXPECT_EQ(l.conflicts[10].at(v4(11)), 20u);
    l = twoNamespacesOneAddress();
    resolveAddressOwners(l, {}, recorded);
    EXPECT_EQ(l.conflicts[20].at(v4(11)), 10u);
}

TEST(AddressOwners, AnAddressRecordedForAPodGoesToThePod) {
    Container a, b;
    a.cgroupId = 40;
    a.recordedAddresses = {v4(11), v4(13)};
    b.cgroupId = 30;
    b.recordedAddresses = {v4(11)};
    const auto recorded = recordedOwners({a, b});
    EXPECT_EQ(recorded,
              (std::map<IpAddress, std::vector<uint64_t>>{{v4(11), {40, 30}}, {v4(13), {40}}}));
    LearnedAddresses l = twoNamespacesOneAddress();  // 30 shares 10's namespace
    resolveAddressOwners(l, {}, recorded);
    EXPECT_EQ(strs(l.byContainer[10]), std::vector<std::string>{"198.18.0.11"});
    EXPECT_EQ(strs(l.byContainer[30]), std::vector<std::string>{"198.18.0.11"});
    EXPECT_EQ(l.conflicts[20].at(v4(11)), 30u);
    EXPECT_FALSE(l.conflicts.count(10));
}

// docs/reference/enforcement.md#pods: a namespace's containers are one endpoint, the oldest.
TEST(AddressOwners, APodsEndpointIsItsOldestContainer) {
    LearnedAddresses l;
    l.netnsOf = {{10, 1}, {20, 2}, {30, 1}, {40, 1}};
    EXPECT_EQ(podEndpoints(l), (std::map<uint64_t, uint64_t>{{30, 10}, {40, 10}}));
    EXPECT_TRUE(podEndpoints({}).empty());
}

TEST(AddressOwners, NoConflictWithoutASharedAddress) {
    LearnedAddresses l;
    l.byContainer = {{10, {v4(11)}}, {20, {v4(12)}}};
    l.netnsOf = {{10, 1}, {20, 2}};
    const LearnedAddresses unchanged = l;
    resolveAddressOwners(l, {}, {});
    EXPECT_EQ(l, unchanged);
}

}  // namespace
}  // namespace palisade
