// Self-test of the integration-test harness (tests/harness): containers talk
// over the bridge, processes land in the right cgroups, and everything is
// gone afterwards, even when setup fails half-way.
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "dns_server.h"

namespace palisade::test {
namespace {

using namespace std::chrono_literals;

std::string pidPrefix(const char* kind) { return kind + std::to_string(::getpid()) + "-"; }

std::vector<std::string> ourCgroupDirs() {
    std::vector<std::string> out;
    const std::string prefix = pidPrefix("palisade-test-");
    if (DIR* d = ::opendir(cgroup2Mount().c_str())) {
        while (dirent* e = ::readdir(d))
            if (std::string(e->d_name).rfind(prefix, 0) == 0) out.push_back(e->d_name);
        ::closedir(d);
    }
    return out;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// True once `pid` is gone (bounded wait: it may still be being reaped).
bool processGone(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
        if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
        std::string stat;
        // An orphan killed by us may linger as a zombie until its reaper runs.
        if (FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r")) {
            char buf[512] = "";
            const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
            std::fclose(f);
            stat.assign(buf, n);
            const size_t paren = stat.rfind(')');
            if (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z')
                return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

void expectNothingLeft() {
    EXPECT_EQ(netnsWithPrefix(pidPrefix("pal-")), std::vector<std::string>{});
    EXPECT_EQ(ourCgroupDirs(), std::vector<std::string>{});
}

class HarnessTest : public ::testing::Test {
  protected:
    void TearDown() override {
        if (!IsSkipped()) expectNothingLeft();
    }
};

TEST_F(HarnessTest, FindsCgroup2Mount) {
    PALISADE_REQUIRE_ROOT();
    const std::string mount = cgroup2Mount();
    EXPECT_TRUE(exists(mount + "/cgroup.procs")) << mount;
    EXPECT_TRUE(exists(mount + "/cgroup.subtree_control")) << mount;
}

TEST_F(HarnessTest, TcpBetweenContainersOverV4AndV6) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    Container& b = sb.addContainer("b");
    EXPECT_EQ(a.ip4, "198.18.0.10");
    EXPECT_EQ(b.ip6, "fd00:18::11");

    Server srv = b.listen(8080);
    ASSERT_TRUE(srv.waitReady());
    EXPECT_EQ(srv.port(), 8080);

    EXPECT_EQ(a.connectErrno(b.ip4, 8080), 0);
    EXPECT_TRUE(srv.waitForCount(1));
    EXPECT_EQ(srv.accepted(), 1);
    EXPECT_EQ(srv.lastPeer(), a.ip4);

    EXPECT_EQ(a.connectErrno(b.ip6, 8080), 0);
    EXPECT_TRUE(srv.waitForCount(2));
    EXPECT_EQ(srv.lastPeer(), a.ip6);

    // A v4-mapped destination goes through an AF_INET6 socket.
    EXPECT_EQ(a.connectErrno("::ffff:" + b.ip4, 8080), 0);
    EXPECT_TRUE(srv.waitForCount(3));
    EXPECT_EQ(srv.lastPeer(), a.ip4);
    EXPECT_EQ(srv.accepted(), 3);
}

TEST_F(HarnessTest, UdpBetweenContainersOverV4AndV6) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    Container& b = sb.addContainer("b");
    Server srv = b.listen(5353, SOCK_DGRAM);
    EXPECT_EQ(a.sendtoErrno(b.ip4, 5353, "hello"), 0);
    EXPECT_TRUE(srv.waitForCount(1));
    EXPECT_EQ(srv.lastPeer(), a.ip4);
    EXPECT_EQ(a.sendtoErrno(b.ip6, 5353), 0);
    EXPECT_TRUE(srv.waitForCount(2));
    EXPECT_EQ(srv.received(), 2);
    EXPECT_EQ(srv.bytes(), 6u);
    EXPECT_EQ(srv.lastPeer(), a.ip6);
    EXPECT_EQ(a.connectErrno(b.ip4, 5353, SOCK_DGRAM), 0);
}

TEST_F(HarnessTest, ClosedPortIsRefusedAndSilentHostTimesOut) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    Container& b = sb.addContainer("b");
    EXPECT_EQ(a.connectErrno(b.ip4, 9), ECONNREFUSED);
    EXPECT_EQ(a.connectErrno(b.ip6, 9), ECONNREFUSED);
    EXPECT_EQ(a.connectErrno(sb.bridgeIp4(), 9), ECONNREFUSED);
    EXPECT_EQ(a.connectErrno(sb.bridgeIp6(), 9), ECONNREFUSED);
    // Nobody answers ARP for .250: the connect is still pending at the timeout.
    EXPECT_EQ(a.connectErrno("198.18.0.250", 80, SOCK_STREAM, 300ms), ETIMEDOUT);
}

TEST_F(HarnessTest, BridgeNamespaceIsTheOutsideWorld) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    sb.addExternalAddress("198.19.7.1/32");
    sb.addExternalAddress("fd00:19::7/128");
    // Also inside the containers' on-link subnets (answered by ARP / neighbour discovery).
    sb.addExternalAddress("198.18.0.200/32");
    sb.addExternalAddress("fd00:18::2/128");
    EXPECT_THROW(sb.addExternalAddress("8.8.8.8/32"), std::invalid_argument);
    EXPECT_THROW(sb.addExternalAddress("2001:db8::1/128"), std::invalid_argument);

    Server web = sb.listenOnBridge(80);
    EXPECT_EQ(a.connectErrno(sb.bridgeIp4(), 80), 0);
    EXPECT_EQ(a.connectErrno(sb.bridgeIp6(), 80), 0);
    EXPECT_EQ(a.connectErrno("198.19.7.1", 80), 0);
    EXPECT_EQ(a.connectErrno("fd00:19::7", 80), 0);
    EXPECT_EQ(a.connectErrno("198.18.0.200", 80), 0);
    EXPECT_EQ(a.connectErrno("fd00:18::2", 80), 0);
    EXPECT_TRUE(web.waitForCount(6));
    EXPECT_EQ(web.lastPeer(), a.ip6);

    // And the other way round: the outside world reaches the container.
    Server inside = a.listen(0);
    ASSERT_NE(inside.port(), 0);
    const std::string ip = a.ip4;
    const uint16_t port = inside.port();
    EXPECT_EQ(sb.inBridge([&] { return connectErrnoHere(ip, port); }), 0);
    EXPECT_TRUE(inside.waitForCount(1));

    RunResult r = sb.runOnBridge({"ip", "-o", "addr", "show", "dev", "br0"});
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_NE(r.output.find("198.18.0.1/24"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("fd00:18::1/64"), std::string::npos) << r.output;
}

TEST_F(HarnessTest, RunLandsInTheContainerCgroupAndNetns) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("web");
    EXPECT_EQ(a.id.size(), 64u);
    EXPECT_EQ(a.id.find_first_not_of("0123456789abcdef"), std::string::npos);
    EXPECT_NE(a.cgroupPath.find("/system.slice/docker-" + a.id + ".scope"), std::string::npos);
    EXPECT_EQ(a.cgroupPath, cgroup2Mount() + a.cgroupRelative);

    struct stat st {};
    ASSERT_EQ(::stat(a.cgroupPath.c_str(), &st), 0);
    EXPECT_EQ(a.cgroupId, st.st_ino);
    EXPECT_NE(a.cgroupId, sb.cgroups().id());
    EXPECT_EQ(CgroupTree::idOf(a.cgroupPath), a.cgroupId);

    RunResult r = a.run({"cat", "/proc/self/cgroup"});
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_NE(r.output.find("0::" + a.cgroupRelative + "\n"), std::string::npos) << r.output;

    r = a.run({"ip", "-o", "addr", "show", "dev", "eth0"});
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_NE(r.output.find(a.ip4 + "/24"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(a.ip6 + "/64"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("tentative"), std::string::npos) << r.output;

    EXPECT_GT(a.inContainer([] { return static_cast<int>(::if_nametoindex("eth0")); }), 0);
    EXPECT_EQ(a.inContainerStr([] { return std::string("ok"); }), "ok");
}

TEST_F(HarnessTest, RunReportsExitCodesOutputTimeoutsAndExecFailures) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    RunResult r = a.run({"sh", "-c", "echo out; echo err >&2; exit 3"});
    EXPECT_EQ(r.exitCode, 3);
    EXPECT_FALSE(r.timedOut);
    EXPECT_NE(r.output.find("out\n"), std::string::npos);
    EXPECT_NE(r.output.find("err\n"), std::string::npos);

    const auto t0 = std::chrono::steady_clock::now();
    r = a.run({"sleep", "30"}, 200ms);
    EXPECT_TRUE(r.timedOut);
    EXPECT_FALSE(r.ok());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

    r = a.run({"/nonexistent/binary"});
    EXPECT_EQ(r.execErrno, ENOENT);
    EXPECT_EQ(r.exitCode, 127);

    EXPECT_THROW(a.inContainer([]() -> int { throw std::runtime_error("inner"); }),
                 std::runtime_error);
    EXPECT_THROW(a.inContainer(
                     [] {
                         ::sleep(30);
                         return 0;
                     },
                     200ms),
                 std::runtime_error);
    EXPECT_THROW(runChecked({"false"}), std::runtime_error);
}

TEST_F(HarnessTest, NestedCgroups) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    const std::string nested = a.nestedCgroup("app/worker");
    EXPECT_EQ(nested, a.cgroupPath + "/app/worker");
    EXPECT_NE(cgroupIdOf(nested), a.cgroupId);

    const std::string own = a.inContainerStr(
        [] {
            std::string s;
            char buf[1024];
            FILE* f = std::fopen("/proc/self/cgroup", "r");
            if (!f) return s;
            const size_t n = std::fread(buf, 1, sizeof buf, f);
            std::fclose(f);
            return s.assign(buf, n);
        },
        10s, nested);
    EXPECT_NE(own.find("0::" + a.cgroupRelative + "/app/worker\n"), std::string::npos) << own;

    a.useCgroup(nested);
    EXPECT_EQ(a.activeCgroup(), nested);
    RunResult r = a.run({"cat", "/proc/self/cgroup"});
    EXPECT_NE(r.output.find("0::" + a.cgroupRelative + "/app/worker\n"), std::string::npos)
        << r.output;
    EXPECT_EQ(a.connectErrno(sb.bridgeIp4(), 9), ECONNREFUSED);  // still in the container netns
    a.useCgroup("");
    EXPECT_EQ(a.activeCgroup(), a.cgroupPath);
    EXPECT_THROW(a.useCgroup("/tmp"), std::invalid_argument);
}

TEST_F(HarnessTest, ServerCanJoinTheContainerCgroup) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    Server outside = a.listen(7000);
    Server inside = a.listen(7001, SOCK_STREAM, /*joinCgroup=*/true);
    const std::vector<pid_t> procs = cgroupProcs(a.cgroupPath);
    EXPECT_EQ(std::count(procs.begin(), procs.end(), inside.pid()), 1);
    EXPECT_EQ(std::count(procs.begin(), procs.end(), outside.pid()), 0);
    EXPECT_THROW(a.listen(7000), std::runtime_error);  // EADDRINUSE
}

TEST_F(HarnessTest, RemoveContainerTearsItDown) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& a = sb.addContainer("a");
    Container& b = sb.addContainer("b");
    const std::string bNetns = b.netns;
    const std::string bCgroup = b.cgroupPath;
    const std::string bIp = b.ip4;
    Server srv = b.listen(80, SOCK_STREAM, true);
    const pid_t srvPid = srv.pid();
    sb.removeContainer("b");
    EXPECT_EQ(srv.pid(), -1);
    EXPECT_TRUE(processGone(srvPid));
    EXPECT_FALSE(exists("/run/netns/" + bNetns));
    EXPECT_FALSE(exists(bCgroup));
    EXPECT_NE(a.connectErrno(bIp, 80, SOCK_STREAM, 300ms), 0);
    EXPECT_EQ(sb.netnsNames(), (std::vector<std::string>{sb.bridgeNetns(), a.netns}));
    Container& c = sb.addContainer("b");  // the name is free again; a new index
    EXPECT_NE(c.netns, bNetns);
    EXPECT_EQ(a.connectErrno(c.ip4, 80), ECONNREFUSED);
}

TEST_F(HarnessTest, TwoSandboxesAtOnceAreIsolated) {
    PALISADE_REQUIRE_ROOT();
    Sandbox one;
    Sandbox two;
    Container& a1 = one.addContainer("a");
    Container& a2 = two.addContainer("a");
    EXPECT_EQ(a1.ip4, a2.ip4);
    EXPECT_NE(a1.netns, a2.netns);
    EXPECT_NE(a1.id, a2.id);
    EXPECT_NE(one.cgroups().path(), two.cgroups().path());
    Server s2 = two.listenOnBridge(443);
    EXPECT_EQ(a1.connectErrno(one.bridgeIp4(), 443), ECONNREFUSED);
    EXPECT_EQ(a2.connectErrno(two.bridgeIp4(), 443), 0);
}

TEST_F(HarnessTest, DestructorCleansUpEverything) {
    PALISADE_REQUIRE_ROOT();
    std::optional<Server> outlives;
    std::string treePath;
    std::vector<std::string> names;
    pid_t orphan = -1;
    pid_t serverPid = -1;
    try {
        Sandbox sb;
        Container& a = sb.addContainer("a");
        sb.addContainer("b");
        a.nestedCgroup("deep/er/still");
        treePath = sb.cgroups().path();
        names = sb.netnsNames();
        EXPECT_EQ(names.size(), 3u);
        for (const auto& n : names) EXPECT_TRUE(exists("/run/netns/" + n)) << n;
        outlives.emplace(a.listen(80));
        serverPid = outlives->pid();
        // A grandchild left running inside the container's cgroup.
        RunResult r = a.run({"sh", "-c", "sleep 60 >/dev/null 2>&1 & echo $!"});
        ASSERT_TRUE(r.ok()) << r.output;
        orphan = std::stoi(r.output);
        throw std::runtime_error("test failed mid-way");
    } catch (const std::runtime_error& e) {
        EXPECT_STREQ(e.what(), "test failed mid-way");
    }
    ASSERT_GT(orphan, 0);
    EXPECT_TRUE(processGone(orphan));
    EXPECT_TRUE(processGone(serverPid));
    EXPECT_EQ(outlives->pid(), -1);  // stopped with the sandbox
    EXPECT_FALSE(exists(treePath));
    for (const auto& n : names) EXPECT_FALSE(exists("/run/netns/" + n)) << n;
    expectNothingLeft();
}

struct InjectedFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

TEST_F(HarnessTest, FailureAtEverySetupStepLeavesNothing) {
    PALISADE_REQUIRE_ROOT();
    std::vector<std::string> steps;
    {
        Sandbox sb(SandboxOptions{[&](const std::string& s) { steps.push_back(s); }});
        sb.addContainer("x");
    }
    ASSERT_EQ(steps.size(), 10u);
    expectNothingLeft();

    for (const std::string& failAt : steps) {
        SCOPED_TRACE("failing at " + failAt);
        bool fired = false;
        SandboxOptions opts{[&](const std::string& s) {
            if (s == failAt && !fired) {
                fired = true;
                throw InjectedFailure(s);
            }
        }};
        bool caught = false;
        try {
            Sandbox sb(std::move(opts));
            try {
                sb.addContainer("x");
            } catch (const InjectedFailure&) {
                // The sandbox survives a failed addContainer, without the half-made container.
                caught = true;
                EXPECT_EQ(netnsWithPrefix(pidPrefix("pal-")),
                          std::vector<std::string>{sb.bridgeNetns()});
                EXPECT_TRUE(sb.containers().empty());
                RunResult r = sb.runOnBridge({"ip", "-o", "link", "show", "type", "veth"});
                EXPECT_TRUE(r.ok());
                EXPECT_EQ(r.output, "");
                // And it still works.
                Container& y = sb.addContainer("y");
                Server srv = y.listen(22);
                EXPECT_EQ(sb.inBridge([&] { return connectErrnoHere(y.ip4, 22); }), 0);
                const std::string slice = sb.cgroups().path() + "/system.slice";
                std::vector<std::string> scopes;
                if (DIR* d = ::opendir(slice.c_str())) {
                    while (dirent* e = ::readdir(d))
                        if (std::string(e->d_name).rfind("docker-", 0) == 0)
                            scopes.push_back(e->d_name);
                    ::closedir(d);
                }
                EXPECT_EQ(scopes, std::vector<std::string>{"docker-" + y.id + ".scope"});
            }
        } catch (const InjectedFailure&) {
            caught = true;
        }
        EXPECT_TRUE(fired);
        EXPECT_TRUE(caught);
        expectNothingLeft();
    }
}

// ---------------------------------------------------------------------------
// DnsServer and the resolve-then-connect client (dns_server.h)

const std::vector<DnsAnswerRule> kDnsRules = {
    {"www.example.test",
     {{"www.example.test", DnsRecord::A, "198.18.0.1", 60},
      {"www.example.test", DnsRecord::AAAA, "fd00:18::1", 60}}},
    {"alias.example.test",
     {{"alias.example.test", DnsRecord::CNAME, "www.example.test"},
      {"www.example.test", DnsRecord::A, "198.18.0.1"},
      {"www.example.test", DnsRecord::AAAA, "fd00:18::1"}}},
    {"flat.example.test",
     {{"flat.example.test", DnsRecord::CNAME, "www.example.test"},
      {"www.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::Uncompressed},
    {"wrongid.example.test",
     {{"wrongid.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::WrongId},
    {"loop.example.test",
     {{"loop.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::CompressionLoop},
    {"cut.example.test",
     {{"cut.example.test", DnsRecord::A, "198.18.0.1"},
      {"cut.example.test", DnsRecord::A, "198.18.0.2"}},
     DnsMisbehaviour::Truncated},
    {"tc.example.test", {{"tc.example.test", DnsRecord::A, "198.18.0.1"}}, DnsMisbehaviour::TcBit},
    {"long.example.test",
     {{"long.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::LongName},
    {"other.example.test",
     {{"other.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::FromOtherPort},
    {"smuggled.example.test",
     {{"smuggled.example.test", DnsRecord::A, "198.18.0.1"}},
     DnsMisbehaviour::TcpSmuggled},
};

uint16_t wire16(const std::string& s, size_t at) {
    return static_cast<uint16_t>((static_cast<unsigned char>(s.at(at)) << 8) |
                                 static_cast<unsigned char>(s.at(at + 1)));
}

// Offset of the first answer record: the header and the echoed question.
size_t answerStart(const std::string& query) { return query.size(); }

// dnsQueryHere from inside the container.
DnsExchange queryFrom(Container& c, const std::string& server, const std::string& name,
                      uint16_t qtype, uint16_t id = 0x1234) {
    const std::string out = c.inContainerStr([&] {
        const DnsExchange x = dnsQueryHere(server, name, qtype, 53, id);
        return std::to_string(x.error) + " " + std::to_string(x.fromPort) + " " + x.response;
    });
    DnsExchange x;
    const size_t sp1 = out.find(' ');
    const size_t sp2 = out.find(' ', sp1 + 1);
    x.error = std::stoi(out.substr(0, sp1));
    x.fromPort = static_cast<uint16_t>(std::stoi(out.substr(sp1 + 1, sp2 - sp1 - 1)));
    x.response = out.substr(sp2 + 1);
    return x;
}

TEST_F(HarnessTest, DnsServerAnswersTheResolverOfAContainer) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& c = sb.addContainer("c");
    Server web = sb.listenOnBridge(80);
    DnsServerOptions opts;
    opts.bindAddress = sb.bridgeIp4();
    opts.rules = kDnsRules;
    DnsServer dns = DnsServer::start(Placement{sb.bridgeNetns(), ""}, opts);
    EXPECT_EQ(dns.port(), 53);
    EXPECT_GT(dns.pid(), 0);
    const std::string resolver = sb.bridgeIp4();
    const std::vector<std::string> v4{"198.18.0.1"};
    const std::vector<std::string> v6{"fd00:18::1"};
    const std::vector<std::string> both{"198.18.0.1", "fd00:18::1"};

    ResolveConnectResult r =
        resolveAndConnectIn(c.placement(), resolver, "www.example.test", 80, AF_INET);
    ASSERT_TRUE(r.resolved()) << r.describe();
    EXPECT_EQ(r.addressList(), v4);
    EXPECT_TRUE(r.allReached()) << r.describe();
    EXPECT_EQ(r.addresses.at(0).connectErrno, 0);
    EXPECT_EQ(r.addresses.at(0).family, AF_INET);
    EXPECT_TRUE(web.waitForCount(1));
    EXPECT_EQ(web.lastPeer(), c.ip4);
    EXPECT_GE(dns.queries(), 1);
    EXPECT_EQ(dns.lastQname(), "www.example.test");
    EXPECT_EQ(dns.lastQtype(), DnsRecord::A);
    EXPECT_EQ(dns.lastPeer(), c.ip4);

    r = resolveAndConnectIn(c.placement(), resolver, "www.example.test", 80, AF_UNSPEC);
    EXPECT_EQ(r.addressList(), both) << r.describe();
    EXPECT_TRUE(r.allReached()) << r.describe();

    // A CNAME chain (the A / AAAA owners are pointers to the CNAME target),
    // the same written out in full, and a name in another case.
    r = resolveAndConnectIn(c.placement(), resolver, "alias.example.test", 80, AF_UNSPEC);
    EXPECT_EQ(r.addressList(), both) << r.describe();
    EXPECT_TRUE(r.allReached()) << r.describe();
    r = resolveAndConnectIn(c.placement(), resolver, "flat.example.test", 80, AF_INET);
    EXPECT_EQ(r.addressList(), v4) << r.describe();
    r = resolveAndConnectIn(c.placement(), resolver, "WWW.Example.TEST", 80, AF_INET6);
    EXPECT_EQ(r.addressList(), v6) << r.describe();
    EXPECT_TRUE(r.allReached()) << r.describe();
    EXPECT_EQ(dns.lastQname(), "WWW.Example.TEST");
    EXPECT_EQ(dns.lastQtype(), DnsRecord::AAAA);

    // Refused counts as reached; UDP is a plain connect().
    r = resolveAndConnectIn(c.placement(), resolver, "www.example.test", 81, AF_UNSPEC);
    ASSERT_EQ(r.addresses.size(), 2u) << r.describe();
    EXPECT_EQ(r.addresses[0].connectErrno, ECONNREFUSED);
    EXPECT_TRUE(r.allReached());
    r = resolveAndConnectIn(c.placement(), resolver, "www.example.test", 81, AF_INET, SOCK_DGRAM);
    EXPECT_EQ(r.addressList(), v4) << r.describe();
    EXPECT_TRUE(r.allReached()) << r.describe();

    // No rule: NXDOMAIN. A wrong ID: the resolver drops the answer and times out.
    r = resolveAndConnectIn(c.placement(), resolver, "nothing.example.test", 80, AF_INET);
    EXPECT_EQ(r.gaiError, EAI_NONAME) << r.describe();
    const int before = dns.queries();
    r = resolveAndConnectIn(c.placement(), resolver, "wrongid.example.test", 80, AF_INET);
    EXPECT_FALSE(r.resolved());
    EXPECT_EQ(r.gaiError, EAI_AGAIN) << r.describe();
    EXPECT_TRUE(r.addresses.empty());
    EXPECT_GT(dns.queries(), before);
    EXPECT_EQ(dns.lastQname(), "wrongid.example.test");

    // The serialized form survives a round trip.
    const ResolveConnectResult back = ResolveConnectResult::parse(r.serialize());
    EXPECT_EQ(back.gaiError, r.gaiError);
    EXPECT_EQ(back.addresses.size(), r.addresses.size());

    // An IPv6 server, answering over IPv6.
    DnsServerOptions opts6 = opts;
    opts6.bindAddress = sb.bridgeIp6();
    DnsServer dns6 = DnsServer::start(Placement{sb.bridgeNetns(), ""}, opts6);
    r = resolveAndConnectIn(c.placement(), sb.bridgeIp6(), "alias.example.test", 80, AF_UNSPEC);
    EXPECT_EQ(r.addressList(), both) << r.describe();
    EXPECT_TRUE(r.allReached()) << r.describe();
    EXPECT_GE(dns6.queries(), 1);
    EXPECT_EQ(dns6.lastPeer(), c.ip6);

    // Bad rules are refused before anything starts.
    DnsServerOptions bad = opts;
    bad.rules = {{"x.test", {{"x.test", DnsRecord::A, "fd00::1"}}}};
    EXPECT_THROW(DnsServer::start(Placement{sb.bridgeNetns(), ""}, bad), std::invalid_argument);
    bad.rules = {{"x..test", {}}};
    EXPECT_THROW(DnsServer::start(Placement{sb.bridgeNetns(), ""}, bad), std::invalid_argument);
    bad = opts;
    bad.bindAddress = "";
    EXPECT_THROW(DnsServer::start(Placement{sb.bridgeNetns(), ""}, bad), std::invalid_argument);

    const pid_t pid = dns.pid();
    dns.stop();
    EXPECT_EQ(dns.pid(), -1);
    EXPECT_TRUE(processGone(pid));
}

TEST_F(HarnessTest, DnsServerAnswersOverTcp) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& c = sb.addContainer("c");
    DnsServerOptions opts;
    opts.bindAddress = sb.bridgeIp4();
    opts.rules = kDnsRules;
    DnsServer dns = DnsServer::start(Placement{sb.bridgeNetns(), ""}, opts);
    const std::string server = sb.bridgeIp4();
    const std::vector<std::string> names = {"www.example.test", "tc.example.test",
                                            "smuggled.example.test"};
    // Each response as "<errno> <hex bytes>" on a line of its own.
    const std::string out = c.inContainerStr([&] {
        std::string text;
        for (const DnsExchange& x : dnsTcpQueriesHere(server, names, DnsRecord::A)) {
            text += std::to_string(x.error) + " ";
            for (unsigned char b : x.response) {
                const char* hex = "0123456789abcdef";
                text += hex[b >> 4];
                text += hex[b & 15];
            }
            text += "\n";
        }
        return text;
    });
    std::vector<std::string> responses;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
        ASSERT_EQ(line.substr(0, 2), "0 ") << out;
        std::string bytes;
        for (size_t i = 2; i + 1 < line.size(); i += 2) {
            bytes.push_back(static_cast<char>(std::stoi(line.substr(i, 2), nullptr, 16)));
        }
        responses.push_back(bytes);
    }
    ASSERT_EQ(responses.size(), 3u) << out;
    EXPECT_EQ(dns.tcpQueries(), 3);
    // As over UDP, each query with the ID 0x2000 + its index.
    EXPECT_EQ(responses[0],
              buildDnsResponse(encodeDnsQuery(names[0], DnsRecord::A, 0x2000), kDnsRules));
    EXPECT_EQ(wire16(responses[1], 2), 0x8180) << "TC is for UDP only";
    EXPECT_EQ(wire16(responses[1], 6), 1);
    // TcpSmuggled: one A record and a TXT record whose data is a length and the same
    // answer again; over UDP, TC.
    const std::string& smuggled = responses[2];
    EXPECT_EQ(wire16(smuggled, 6), 2);
    const std::string alone =
        buildDnsResponse(encodeDnsQuery(names[2], DnsRecord::A, 0x2002),
                         {{names[2], {{names[2], DnsRecord::A, "198.18.0.1"}}}})
            .value();
    ASSERT_GT(smuggled.size(), alone.size() + 13);
    const size_t data = smuggled.size() - alone.size() - 2;  // the TXT's character-string
    EXPECT_EQ(smuggled.substr(data + 2), alone);
    EXPECT_EQ(wire16(smuggled, data), alone.size());
    EXPECT_EQ(wire16(smuggled, data - 11), 16) << "type TXT";
    const DnsExchange udp = queryFrom(c, server, names[2], DnsRecord::A);
    ASSERT_EQ(udp.error, 0);
    EXPECT_EQ(wire16(udp.response, 2), 0x8380) << "TC over UDP";
}

TEST_F(HarnessTest, DnsServerMisbehavesOnRequest) {
    PALISADE_REQUIRE_ROOT();
    Sandbox sb;
    Container& c = sb.addContainer("c");
    DnsServerOptions opts;
    opts.bindAddress = sb.bridgeIp4();
    opts.rules = kDnsRules;
    DnsServer dns = DnsServer::start(Placement{sb.bridgeNetns(), ""}, opts);
    const std::string server = sb.bridgeIp4();

    // Well-formed: ID, QR/RD/RA, the question echoed, owner = pointer to the question.
    std::string q = encodeDnsQuery("www.example.test", DnsRecord::A, 0x4242);
    DnsExchange x = queryFrom(c, server, "www.example.test", DnsRecord::A, 0x4242);
    ASSERT_EQ(x.error, 0);
    EXPECT_EQ(x.fromPort, 53);
    ASSERT_EQ(x.response.size(), answerStart(q) + 16);
    EXPECT_EQ(wire16(x.response, 0), 0x4242);
    EXPECT_EQ(wire16(x.response, 2), 0x8180);  // QR, RD, RA, NOERROR
    EXPECT_EQ(wire16(x.response, 4), 1);
    EXPECT_EQ(wire16(x.response, 6), 1);  // the AAAA record is not for an A query
    EXPECT_EQ(x.response.substr(12, q.size() - 12), q.substr(12));
    size_t at = answerStart(q);
    EXPECT_EQ(wire16(x.response, at), 0xc00c);
    EXPECT_EQ(wire16(x.response, at + 2), DnsRecord::A);
    EXPECT_EQ(wire16(x.response, at + 4), 1);   // IN
    EXPECT_EQ(wire16(x.response, at + 8), 60);  // TTL, low half
    EXPECT_EQ(wire16(x.response, at + 10), 4);
    EXPECT_EQ(x.response.substr(at + 12, 4), std::string("\xc6\x12\x00\x01", 4));
    // The same bytes from the pure function.
    EXPECT_EQ(buildDnsResponse(q, kDnsRules), x.response);

    // A CNAME chain: the A record's owner points at the CNAME target.
    q = encodeDnsQuery("alias.example.test", DnsRecord::A);
    x = queryFrom(c, server, "alias.example.test", DnsRecord::A);
    ASSERT_EQ(x.error, 0);
    EXPECT_EQ(wire16(x.response, 6), 2);
    at = answerStart(q);
    EXPECT_EQ(wire16(x.response, at), 0xc00c);
    EXPECT_EQ(wire16(x.response, at + 2), DnsRecord::CNAME);
    const size_t target = at + 12;
    EXPECT_EQ(x.response.substr(target, 18), std::string("\x03www\x07\x65xample\x04test\x00", 18));
    EXPECT_EQ(wire16(x.response, target + 18), 0xc000 | target);
    // Uncompressed: the same chain with the owners in full.
    q = encodeDnsQuery("flat.example.test", DnsRecord::A);
    x = queryFrom(c, server, "flat.example.test", DnsRecord::A);
    ASSERT_EQ(x.error, 0);
    at = answerStart(q);
    EXPECT_EQ(x.response.substr(at, 19), std::string("\x04\x66lat\x07\x65xample\x04test\x00", 19));
    EXPECT_EQ(x.response.find('\xc0'), std::string::npos);

    // NXDOMAIN keeps the question; the AAAA query of a name with none gets an empty answer.
    x = queryFrom(c, server, "nothing.example.test", DnsRecord::A);
    EXPECT_EQ(wire16(x.response, 2), 0x8183);
    EXPECT_EQ(wire16(x.response, 4), 1);
    EXPECT_EQ(wire16(x.response, 6), 0);
    x = queryFrom(c, server, "wrongid.example.test", DnsRecord::AAAA);
    EXPECT_EQ(wire16(x.response, 2), 0x8180);
    EXPECT_EQ(wire16(x.response, 6), 0);

    x = queryFrom(c, server, "wrongid.example.test", DnsRecord::A, 0x1111);
    EXPECT_EQ(wire16(x.response, 0), 0x1111 ^ 0x5a5a);

    q = encodeDnsQuery("loop.example.test", DnsRecord::A);
    x = queryFrom(c, server, "loop.example.test", DnsRecord::A);
    at = answerStart(q);
    EXPECT_EQ(x.response.substr(at, 5), "\x04loop");
    EXPECT_EQ(wire16(x.response, at + 5), 0xc000 | at);

    q = encodeDnsQuery("cut.example.test", DnsRecord::A);
    x = queryFrom(c, server, "cut.example.test", DnsRecord::A);
    EXPECT_EQ(wire16(x.response, 2), 0x8180);  // TC clear
    EXPECT_EQ(wire16(x.response, 6), 2);
    EXPECT_EQ(x.response.size(), answerStart(q) + 16);  // half of two 16-byte records

    x = queryFrom(c, server, "tc.example.test", DnsRecord::A);
    EXPECT_EQ(wire16(x.response, 2), 0x8380);
    EXPECT_EQ(wire16(x.response, 6), 1);

    q = encodeDnsQuery("long.example.test", DnsRecord::A);
    x = queryFrom(c, server, "long.example.test", DnsRecord::A);
    at = answerStart(q);
    ASSERT_EQ(x.response.size(), at + 449 + 14);
    for (int l = 0; l < 7; ++l) EXPECT_EQ(x.response[at + 64 * l], 63);
    EXPECT_EQ(x.response[at + 448], 0);

    x = queryFrom(c, server, "other.example.test", DnsRecord::A);
    ASSERT_EQ(x.error, 0);
    EXPECT_NE(x.fromPort, 53);
    EXPECT_EQ(wire16(x.response, 6), 1);

    // Garbage gets FORMERR (when it has a header) or nothing.
    EXPECT_EQ(buildDnsResponse("\x12\x34", kDnsRules), std::nullopt);
    const std::optional<std::string> formErr = buildDnsResponse(
        std::string("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c", 14), kDnsRules);
    ASSERT_TRUE(formErr.has_value());
    EXPECT_EQ(*formErr, std::string("\x12\x34\x81\x81\x00\x00\x00\x00\x00\x00\x00\x00", 12));

    EXPECT_EQ(dns.queries(), 11);
    EXPECT_EQ(dns.answered(), 11);
}

}  // namespace
}  // namespace palisade::test
