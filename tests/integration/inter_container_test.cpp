// docs/reference/enforcement.md#inter-container on the real kernel: east-west traffic between netns
// containers on one bridge is refused unless a toContainers rule names the peer and port, on the
// sender's side (connect/sendmsg) and on the receiver's (cgroup_skb ingress), for IPv4, IPv6 and
// IPv4-mapped IPv6, and rules follow addresses.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "agent_process.h"
#include "harness.h"

namespace palisade::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kPolicies = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: api}
  egress:
    - toContainers: {name: db}
      ports: [{port: 5432, protocol: TCP}]
    - toCIDR: ["198.18.0.0/16"]
      ports: [{port: 443, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: rogue}
spec:
  selector: {name: rogue}
  egress:
    - toCIDR: ["198.18.0.0/15", "fd00::/8"]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db}
spec:
  selector: {name: db}
  egress: []
)";

class InterContainer : public ::testing::TestWithParam<Privileges> {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        api_ = &sandbox_->addContainer("api");
        db_ = &sandbox_->addContainer("db");
        rogue_ = &sandbox_->addContainer("rogue");
        // Listeners inside each container's cgroup: its "init" process, through
        // which the agent finds the container's network namespace.
        for (uint16_t port : {5432, 5433}) servers_.push_back(db_->listen(port, SOCK_STREAM, true));
        servers_.push_back(api_->listen(9000, SOCK_STREAM, true));
        servers_.push_back(rogue_->listen(9000, SOCK_STREAM, true));
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->privileges() = GetParam();
        for (auto* c : {api_, db_, rogue_}) agent_->describe(*c);
        agent_->writePolicy("tiers.yaml", kPolicies);
        // Small address maps, for AContainersThousandsOfAddressesDoNotFillTheAddressMaps.
        agent_->extraConfig() = "limits: {addresses: 300}\n";
        agent_->start();
        ASSERT_TRUE(waitErrno(*api_, db_->ip4, 5432, 0)) << "db's address never learned";
    }
    void TearDown() override {
        agent_.reset();
        servers_.clear();
        sandbox_.reset();
    }

    // Polls (bounded) until connecting from `from` gives `expected`.
    static bool waitErrno(Container& from, const std::string& ip, uint16_t port, int expected) {
        for (int i = 0; i < 60; i++) {
            if (from.connectErrno(ip, port, SOCK_STREAM, 1000ms) == expected) return true;
            std::this_thread::sleep_for(50ms);
        }
        return false;
    }

    json deniedEvent(const std::string& from, const std::string& mechanism) {
        return agent_->waitForEvent([&](const json& e) {
            return e.contains("container") && e["container"].is_object() &&
                   e["container"].value("name", "") == from &&
                   e["palisade"].value("mechanism", "") == mechanism &&
                   e["palisade"].value("reason", "") == "inter-container";
        });
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container *api_ = nullptr, *db_ = nullptr, *rogue_ = nullptr;
    std::vector<Server> servers_;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_P(InterContainer, OnlyTheNamedPeerAndPortAreReachable) {
    EXPECT_EQ(api_->connectErrno(db_->ip4, 5432), 0);
    EXPECT_EQ(api_->connectErrno(db_->ip4, 5433), EPERM);
    json e = deniedEvent("api", "cgroup/connect4");
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["destination"]["container"]["name"], "db");
    EXPECT_EQ(e["destination"]["port"], 5433);
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
    // A toCIDR covering the peer is not enough.
    EXPECT_EQ(rogue_->connectErrno(db_->ip4, 5432), EPERM);
    EXPECT_EQ(db_->connectErrno(api_->ip4, 9000), EPERM);
    // ...while the same toCIDR still reaches the bridge, which is no container.
    EXPECT_NE(rogue_->connectErrno(sandbox_->bridgeIp4(), 9), EPERM);
}

TEST_P(InterContainer, Ipv6AndV4MappedVariantsAreJudgedAlike) {
    EXPECT_EQ(api_->connectErrno(db_->ip6, 5432), 0);
    EXPECT_EQ(api_->connectErrno(db_->ip6, 5433), EPERM);
    EXPECT_EQ(api_->connectErrno("::ffff:" + db_->ip4, 5432), 0);
    EXPECT_EQ(api_->connectErrno("::ffff:" + db_->ip4, 5433), EPERM);
    EXPECT_EQ(rogue_->connectErrno(db_->ip6, 5432), EPERM);
    EXPECT_EQ(rogue_->connectErrno("::ffff:" + db_->ip4, 5432), EPERM);
    EXPECT_EQ(db_->connectErrno(api_->ip6, 9000), EPERM);
    json e = deniedEvent("rogue", "cgroup/connect6");
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["destination"]["container"]["name"], "db");
}

// A sender whose own hooks do not apply (a process in rogue's network
// namespace but outside any container cgroup) is stopped at the receiver.
TEST_P(InterContainer, ReceiverDropsFlowsNoRuleAllows) {
    const std::string outside = sandbox_->cgroups().create("system.slice/unmanaged.service");
    const std::string dbIp = db_->ip4;
    int err = callInInt({rogue_->netns, outside},
                        [dbIp] { return connectErrnoHere(dbIp, 5432, SOCK_STREAM, 1500ms); });
    EXPECT_EQ(err, ETIMEDOUT) << "the SYN was not dropped at db's ingress";
    json e = agent_->waitForEvent([](const json& ev) {
        return ev["palisade"].value("mechanism", "") == "cgroup_skb/ingress";
    });
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["container"]["name"], "db");
    EXPECT_EQ(e["source"]["container"]["name"], "rogue");
    EXPECT_EQ(e["source"]["ip"], rogue_->ip4);
    EXPECT_EQ(e["destination"]["port"], 5432);
    EXPECT_EQ(e["palisade"]["reason"], "inter-container");
    EXPECT_FALSE(e.contains("process"));
    // An allowed peer's flow passes the receiver's check too, and replies flow.
    EXPECT_EQ(api_->connectErrno(db_->ip4, 5432), 0);
}

// A container that no policy selects is a container all the same: under
// defaults.unmatched: audit its own hooks let it connect, and the receiver must
// drop what no rule of the sender allows (issue 17, item 5, reproduced).
TEST_P(InterContainer, ReceiverDropsFlowsFromAnUnmatchedContainer) {
    Container& stranger = sandbox_->addContainer("stranger");
    servers_.push_back(stranger.listen(9000, SOCK_STREAM, true));
    const size_t before = agent_->events().size();
    const std::string dbIp = db_->ip4;
    // Until the agent has learned stranger's address, its SYN passes as the
    // outside world's would: wait for the drop, bounded.
    int err = 0;
    for (int i = 0; i < 20 && err != ETIMEDOUT; i++) {
        err = stranger.connectErrno(dbIp, 5432, SOCK_STREAM, 500ms);
        if (err != ETIMEDOUT) std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(err, ETIMEDOUT) << "the SYN was not dropped at db's ingress: " << strerror(err);
    const std::string strangerIp = stranger.ip4;
    json e = agent_->waitForEvent(
        [&](const json& ev) {
            return ev["palisade"].value("mechanism", "") == "cgroup_skb/ingress" &&
                   ev.contains("source") && ev["source"].value("ip", "") == strangerIp;
        },
        3s, before);
    ASSERT_FALSE(e.is_null()) << "no ingress event for stranger";
    EXPECT_EQ(e["source"]["container"]["id"], stranger.id);
    EXPECT_EQ(e["container"]["name"], "db");
    EXPECT_EQ(e["palisade"]["reason"], "inter-container");
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
}

// Sends one datagram from `source` (bound with IPV6_FREEBIND, which needs no privilege, so
// any address will do) to `dest`; 0 or errno.
int sendFrom(const std::string& source, const std::string& dest, uint16_t port) {
    const int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    const int one = 1;
    const SockAddr from = parseSockAddr(source, 0);
    const SockAddr to = parseSockAddr(dest, port);
    int err = 0;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) != 0 ||
        bind(fd, from.get(), from.len) != 0 || sendto(fd, "x", 1, 0, to.get(), to.len) != 1) {
        err = errno;
    }
    close(fd);
    return err;
}

// IPv6 delivers a packet that comes from outside with the receiver's own address as its
// source (IPv4 drops it as a martian). The receiver's own address is exempt only over
// loopback: forged from rogue's namespace by a sender whose hooks do not apply, db's own
// address gets no further than any other container's (issue 17, a review finding).
TEST_P(InterContainer, AReceiversOwnAddressForgedFromOutsideIsDropped) {
    Server udp = db_->listen(5434, SOCK_DGRAM, true);
    const std::string outside = sandbox_->cgroups().create("system.slice/forger.service");
    const std::string dbIp = db_->ip6;
    const size_t before = agent_->events().size();
    EXPECT_EQ(callInInt({rogue_->netns, outside}, [&] { return sendFrom(dbIp, dbIp, 5434); }), 0);
    json e = agent_->waitForEvent(
        [&](const json& ev) {
            return ev["palisade"].value("mechanism", "") == "cgroup_skb/ingress" &&
                   ev.contains("source") && ev["source"].value("ip", "") == dbIp;
        },
        3s, before);
    EXPECT_EQ(udp.received(), 0) << "the forged datagram reached db's socket";
    ASSERT_FALSE(e.is_null()) << "no ingress event for the forged datagram";
    EXPECT_EQ(e["container"]["name"], "db");
    EXPECT_EQ(e["palisade"]["reason"], "inter-container");
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
    // The same datagram sent inside db's namespace, over lo, is db's own traffic.
    EXPECT_EQ(callInInt({db_->netns, outside}, [&] { return sendFrom(dbIp, dbIp, 5434); }), 0);
    for (int i = 0; i < 30 && udp.received() == 0; i++) std::this_thread::sleep_for(100ms);
    EXPECT_EQ(udp.received(), 1);
}

// A process in a container can add any address to its own network namespace; one that
// adds another container's must not take it over (issue 17, item 4): the address stays
// db's, and the agent reports the conflict.
TEST_P(InterContainer, AnotherContainersAddressIsNotTakenOver) {
    ASSERT_TRUE(rogue_->run({"ip", "addr", "add", db_->ip4 + "/32", "dev", "lo"}).ok());
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    json rogue;
    while (rogue.is_null() && std::chrono::steady_clock::now() < deadline) {
        RunResult r =
            run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
        for (const json& c : json::parse(r.output, nullptr, false)) {
            if (c.value("name", "") == "rogue" && c.contains("addressConflicts")) rogue = c;
        }
        std::this_thread::sleep_for(100ms);
    }
    EXPECT_FALSE(rogue.is_null()) << "the conflict was never reported";
    if (!rogue.is_null()) {
        EXPECT_EQ(rogue["addressConflicts"][db_->ip4], db_->id);
    }
    // db's peers still reach it, rogue's rules still do not.
    EXPECT_EQ(api_->connectErrno(db_->ip4, 5432), 0);
    EXPECT_EQ(api_->connectErrno(db_->ip4, 5433), EPERM);
    json e = deniedEvent("api", "cgroup/connect4");
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["destination"]["container"]["name"], "db");
}

// docs/reference/enforcement.md#pods: a container that shares db's network namespace (a pod's
// second container) and db itself reach the pod's address as their own, whichever container
// the address maps to; the others still need a rule for the pod's endpoint, db, the older.
TEST_P(InterContainer, APodsContainersReachTheirOwnPodsAddress) {
    Container& sidecar = sandbox_->addContainer("sidecar");
    agent_->describe(sidecar);
    // sidecar's process, in db's namespace.
    db_->useCgroup(sidecar.cgroupPath);
    servers_.push_back(db_->listen(7000, SOCK_STREAM, true));
    db_->useCgroup("");
    agent_->writePolicy("pod.yaml", R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: db-in-pod}
spec:
  selector: {name: db}
  egress:
    - toCIDR: ["198.18.0.0/16"]
      ports: [{port: 7000, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api-to-pod}
spec:
  selector: {name: api}
  egress:
    - toContainers: {name: db}
      ports: [{port: 7000, protocol: TCP}]
---
apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: sidecar}
spec:
  selector: {name: sidecar}
  egress:
    - toCIDR: ["198.18.0.0/16"]
      ports: [{port: 5432, protocol: TCP}]
)");
    // Its metadata was written after its cgroup appeared: the agent reads it at the
    // latest at its next resync.
    json entry = json::object();
    for (int i = 0; i < 150 && entry.value("policies", json()) != json::array({"sidecar"}); i++) {
        std::this_thread::sleep_for(100ms);
        RunResult r =
            run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
        for (const json& c : json::parse(r.output, nullptr, false)) {
            if (c.value("name", "") == "sidecar") entry = c;
        }
    }
    ASSERT_EQ(entry.value("policies", json()), json::array({"sidecar"})) << entry.dump();
    const std::string pod = db_->ip4;
    auto fromSidecar = [&](uint16_t port) {
        return callInInt(Placement{db_->netns, sidecar.cgroupPath},
                         [&] { return connectErrnoHere(pod, port, SOCK_STREAM, 1000ms); });
    };
    int fromDb = -1, fromSide = -1;
    for (int i = 0; i < 60 && (fromDb != 0 || fromSide != 0); i++) {
        std::this_thread::sleep_for(100ms);
        fromDb = db_->connectErrno(pod, 7000, SOCK_STREAM, 1000ms);
        fromSide = fromSidecar(5432);
    }
    EXPECT_EQ(fromDb, 0) << "db to its pod's sidecar, through the pod's address";
    EXPECT_EQ(fromSide, 0) << "the sidecar to db, through the pod's address";
    EXPECT_EQ(fromSidecar(5433), EPERM) << "still its allowlist";
    EXPECT_EQ(api_->connectErrno(pod, 5432), 0) << "api's rule names db, the pod's endpoint";
    // The sidecar's listener: the receiver's side judges by the pod's endpoint too.
    EXPECT_EQ(api_->connectErrno(pod, 7000), 0) << "api's rule for db reaches db's pod";
    EXPECT_EQ(rogue_->connectErrno(pod, 7000), EPERM);
}

TEST_P(InterContainer, PeerRulesFollowANewAddress) {
    const std::string moved = "198.18.0.99";
    ASSERT_TRUE(db_->run({"ip", "addr", "del", db_->ip4 + "/24", "dev", "eth0"}).ok());
    ASSERT_TRUE(db_->run({"ip", "addr", "add", moved + "/24", "dev", "eth0"}).ok());
    EXPECT_TRUE(waitErrno(*api_, moved, 5432, 0)) << "api's rule did not follow db";
    EXPECT_TRUE(waitErrno(*rogue_, moved, 5432, EPERM)) << "the new address is not db's yet";
    EXPECT_EQ(api_->connectErrno(moved, 5433), EPERM);
}

// docs/reference/enforcement.md#capacity: a container that adds a thousand addresses to its own
// namespace (here more than pal_addr4 holds) gets the first 256 counted; the address maps keep
// room for the others' (the agent used to exit on the full map).
TEST_P(InterContainer, AContainersThousandsOfAddressesDoNotFillTheAddressMaps) {
    std::string batch;
    for (int i = 0; i < 1000; i++) {
        batch += "addr add 198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) +
                 "/32 dev lo\n";
    }
    const std::string file = agent_->dir() + "/flood.batch";
    std::ofstream(file) << batch;
    ASSERT_TRUE(rogue_->run({"ip", "-batch", file}).ok());
    json rogue;
    for (int i = 0; i < 50 && rogue.is_null(); i++) {
        RunResult r =
            run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
        for (const json& c : json::parse(r.output, nullptr, false)) {
            if (c.value("name", "") == "rogue" && c.contains("addressesLeftOut")) rogue = c;
        }
        if (rogue.is_null()) std::this_thread::sleep_for(100ms);
    }
    ASSERT_FALSE(rogue.is_null()) << agent_->stderrText();
    // Its own addresses (198.18.0.x, fd00:18::x, fe80::…) and the thousand.
    EXPECT_GE(rogue["addressesLeftOut"].get<size_t>(), 1000u + 1 - 256);
    EXPECT_EQ(rogue["addresses"].size(), 256u);
    // db moves: its new address still finds room, and api's rule follows it.
    const std::string moved = "198.18.0.99";
    ASSERT_TRUE(db_->run({"ip", "addr", "del", db_->ip4 + "/24", "dev", "eth0"}).ok());
    ASSERT_TRUE(db_->run({"ip", "addr", "add", moved + "/24", "dev", "eth0"}).ok());
    EXPECT_TRUE(waitErrno(*api_, moved, 5432, 0)) << agent_->stderrText();
    EXPECT_EQ(kill(agent_->pid(), 0), 0) << "the agent goes on";
}

// Also with nothing but the capabilities the agent ships with.
INSTANTIATE_TEST_SUITE_P(Privileges, InterContainer,
                         ::testing::Values(Privileges::Root, Privileges::Shipped), privilegesName);

}  // namespace
}  // namespace palisade::test
