// `bind` rules on the real kernel (docs/reference/enforcement.md#bind): the agent binary, real
// bind() calls from a netns container and from a host-network one, and the events.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "agent_process.h"
#include "harness.h"

namespace palisade::test {
namespace {

using nlohmann::json;

// bind() of a new socket of `type` to ip:port, in the caller's namespaces and cgroup;
// 0 or the errno.
int bindErrnoHere(const std::string& ip, uint16_t port, int type = SOCK_STREAM) {
    const SockAddr a = parseSockAddr(ip, port);
    const int fd = socket(a.family, type, 0);
    if (fd < 0) return errno;
    const int rc = bind(fd, a.get(), a.len);
    const int err = rc < 0 ? errno : 0;
    close(fd);
    return err;
}

constexpr const char* kPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: local-only}
spec:
  selector: {name: "server-1"}
  mode: MODE
  egress:
    - toCIDR: ["198.18.0.0/24"]
  bind:
    - addresses: ["127.0.0.1", "::1"]
      ports: [{port: 8080, protocol: TCP}]
    - address: 198.18.0.0/16
      except: ["198.18.9.0/24"]
      ports: [{port: 5353, protocol: UDP}]
)";

class Bind : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        server_ = &sandbox_->addContainer("server-1");
        other_ = &sandbox_->addContainer("other-1");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*server_);
        agent_->describe(*other_);
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }

    void startWith(const std::string& mode) {
        std::string policy = kPolicy;
        policy.replace(policy.find("MODE"), 4, mode);
        agent_->writePolicy("bind.yaml", policy);
        agent_->start();
    }

    int bindIn(Container& c, const std::string& ip, uint16_t port, int type = SOCK_STREAM) {
        return c.inContainer([=] { return bindErrnoHere(ip, port, type); });
    }

    json bindEvent(const std::string& ip, uint16_t port) {
        return agent_->waitForEvent([&](const json& e) {
            return e["event"]["action"] == "bind" && e.contains("server") &&
                   e["server"]["ip"] == ip && e["server"].value("port", 0) == port;
        });
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* server_ = nullptr;
    Container* other_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Bind, OnlyTheAddressesAndPortsOfABindRuleMayBeBound) {
    startWith("enforce");
    struct Case {
        const char* ip;
        uint16_t port;
        int type;
        int want;
    };
    for (const Case& c : {
             Case{"127.0.0.1", 8080, SOCK_STREAM, 0}, Case{"::1", 8080, SOCK_STREAM, 0},
             Case{"::ffff:127.0.0.1", 8080, SOCK_STREAM, 0},       // judged as 127.0.0.1
             Case{"198.18.0.7", 5353, SOCK_DGRAM, EADDRNOTAVAIL},  // allowed; not its address
             Case{"0.0.0.0", 8080, SOCK_STREAM, EPERM},            // every address: not listed
             Case{"::", 8080, SOCK_STREAM, EPERM}, Case{"::ffff:0.0.0.0", 8080, SOCK_STREAM, EPERM},
             Case{"127.0.0.1", 8081, SOCK_STREAM, EPERM},  // another port
             Case{"127.0.0.1", 8080, SOCK_DGRAM, EPERM},   // another protocol
             Case{"127.0.0.1", 0, SOCK_STREAM, EPERM},     // a port the kernel picks: 0
             Case{"198.18.9.1", 5353, SOCK_DGRAM, EPERM},  // in the rule's except
         }) {
        SCOPED_TRACE(std::string(c.ip) + " port " + std::to_string(c.port) +
                     (c.type == SOCK_DGRAM ? " UDP" : " TCP"));
        EXPECT_EQ(bindIn(*server_, c.ip, c.port, c.type), c.want) << strerror(c.want);
    }
    const json e = bindEvent("0.0.0.0", 8080);
    ASSERT_FALSE(e.is_null()) << "no event";
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
    EXPECT_EQ(e["palisade"]["reason"], "bind-not-allowed");
    EXPECT_EQ(e["palisade"]["mechanism"], "cgroup/bind4");
    EXPECT_EQ(e["event"]["outcome"], "denied");
    EXPECT_EQ(e["network"]["transport"], "tcp");
    EXPECT_EQ(e["container"]["name"], "server-1");
    EXPECT_FALSE(e.contains("destination"));
    const json six = bindEvent("::", 8080);
    ASSERT_FALSE(six.is_null()) << "no event";
    EXPECT_EQ(six["palisade"]["mechanism"], "cgroup/bind6");
    const json mapped = agent_->waitForEvent([](const json& ev) {
        return ev["palisade"].value("original_address", "") == "::ffff:0.0.0.0";
    });
    ASSERT_FALSE(mapped.is_null()) << "no event for the v4-mapped bind";
    EXPECT_EQ(mapped["server"]["ip"], "0.0.0.0");
    EXPECT_EQ(mapped["palisade"]["mechanism"], "cgroup/bind6");

    // A container no bind rule covers binds what it likes.
    EXPECT_EQ(bindIn(*other_, "0.0.0.0", 8080), 0);
    EXPECT_EQ(bindIn(*other_, "::", 0), 0);
}

// The hardening guides' "bind ports to 127.0.0.1 unless external access is required", for
// a container on the host's network: its listening socket cannot take the host's addresses.
TEST_F(Bind, AHostNetworkContainerBindsOnlyTheAddressesItIsGiven) {
    const std::string policy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: host-net}
spec:
  selector: {name: "server-1"}
  bind:
    - addresses: ["127.0.0.1", "::1"]
)";
    agent_->writePolicy("bind.yaml", policy);
    agent_->start();
    const Placement hostNetwork{"", server_->cgroupPath};
    // Port 0: the kernel picks a free port, so the test never takes one the host uses.
    EXPECT_EQ(callInInt(hostNetwork, [] { return bindErrnoHere("127.0.0.1", 0); }), 0);
    EXPECT_EQ(callInInt(hostNetwork, [] { return bindErrnoHere("::1", 0); }), 0);
    EXPECT_EQ(callInInt(hostNetwork, [] { return bindErrnoHere("0.0.0.0", 0); }), EPERM);
    EXPECT_EQ(callInInt(hostNetwork, [] { return bindErrnoHere("::", 0, SOCK_DGRAM); }), EPERM);
    const json e = bindEvent("0.0.0.0", 0);
    ASSERT_FALSE(e.is_null()) << "no event";
    EXPECT_EQ(e["container"]["id"], server_->id);
}

// SCTP sockets bind through their protocol, past the cgroup bind hooks: a container with
// bind rules may not make them. vmtests loads the sctp module; on a host without it the
// test loads none (a container's socket() would).
TEST_F(Bind, SctpSocketsAreRefusedWhereBindsAreJudged) {
    if (!std::filesystem::exists("/sys/module/sctp")) {
        GTEST_SKIP() << "the sctp module is not loaded, and this test loads no module";
    }
    startWith("enforce");
    auto sctp = [] {
        const int fd = socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
        if (fd < 0) return errno;
        close(fd);
        return 0;
    };
    EXPECT_EQ(server_->inContainer(sctp), EPERM);
    EXPECT_EQ(other_->inContainer(sctp), 0) << "without bind rules, SCTP is a protocol like any";
    const json e = agent_->waitForEvent([](const json& ev) {
        return ev["event"]["action"] == "socket-create" &&
               ev["palisade"]["reason"] == "bind-not-allowed";
    });
    ASSERT_FALSE(e.is_null()) << "no event";
    EXPECT_EQ(e["socket"]["protocol"], IPPROTO_SCTP);
    EXPECT_EQ(e["container"]["name"], "server-1");
}

TEST_F(Bind, AuditModeReportsWhatEnforceWouldRefuse) {
    startWith("audit");
    EXPECT_EQ(bindIn(*server_, "0.0.0.0", 8080), 0);
    const json e = bindEvent("0.0.0.0", 8080);
    ASSERT_FALSE(e.is_null()) << "no event";
    EXPECT_EQ(e["palisade"]["verdict"], "audit");
    EXPECT_EQ(e["palisade"]["reason"], "bind-not-allowed");
}

}  // namespace
}  // namespace palisade::test
