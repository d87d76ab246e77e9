// Nothing a file, a client, a cgroup name or a container can do ends the agent
// or weakens what is in force (docs/reference/enforcement.md#fail-safe):
// every kind of bad input at once, against the real binary, then the agent
// must still be running, answering and enforcing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "agent_process.h"
#include "egress_cases.h"
#include "harness.h"
#include "util/fd.h"

namespace palisade::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// A connection to the agent's control socket; invalid when it cannot connect.
Fd controlConnection(const std::string& path) {
    Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
    return fd;
}

// Sends `bytes` (as much as the agent takes within a second) and returns what
// comes back within a second.
std::string talk(const std::string& path, const std::string& bytes) {
    Fd fd = controlConnection(path);
    if (!fd) return "<no connection>";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    for (size_t sent = 0; sent < bytes.size() && std::chrono::steady_clock::now() < deadline;) {
        const ssize_t n =
            send(fd.get(), bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<size_t>(n);
        } else if (n < 0 && errno != EAGAIN) {
            break;  // the agent closed it: a refusal is fine
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
    std::string reply;
    char buf[4096];
    pollfd p{fd.get(), POLLIN, 0};
    while (poll(&p, 1, 1000) == 1) {
        const ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
        if (n <= 0) break;
        reply.append(buf, static_cast<size_t>(n));
    }
    return reply;
}

class Robustness : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        client_ = &sandbox_->addContainer("client-1");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*client_);
        agent_->writePolicy("table.yaml", kEgressTablePolicy);
        agent_->start();
        ASSERT_EQ(client_->connectErrno("198.18.1.1", 443), EPERM);
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
    }

    // Still running, answering `status` and refusing what the policy refuses.
    void expectServing(const std::string& after) {
        SCOPED_TRACE("after " + after);
        int status = 0;
        ASSERT_EQ(waitpid(agent_->pid(), &status, WNOHANG), 0) << "the agent ended; stderr:\n"
                                                               << agent_->stderrText();
        RunResult r = run({PALISADE_BINARY, "status", "--json", "--config", agent_->configPath()});
        ASSERT_TRUE(r.ok()) << r.output;
        EXPECT_TRUE(json::accept(r.output)) << r.output.substr(0, 200);
        EXPECT_EQ(client_->connectErrno("198.18.1.1", 443), EPERM);
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* client_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Robustness, BadInputOfEveryKindNeverEndsTheAgent) {
    const std::string sock = agent_->dir() + "/palisade.sock";

    // Clients: wrong types, bytes that are not UTF-8, deep nesting, a line far
    // over the limit, a request cut off, and a crowd holding connections.
    for (const std::string& request :
         {std::string("{\"cmd\":1}\n"), std::string("\xff\xfe\x00garbage\n", 12),
          std::string(100000, '[') + "\n", std::string(16 << 20, 'x') + "\n",
          std::string("{\"cmd\":\"status\",\"filter\":")}) {
        talk(sock, request);
    }
    EXPECT_NE(talk(sock, "{\"cmd\":1}\n").find("error"), std::string::npos);
    {
        std::vector<Fd> crowd;
        for (int i = 0; i < 300; i++) crowd.push_back(controlConnection(sock));
        expectServing("300 idle control connections");
    }
    expectServing("bad control requests");

    // Policy files: not YAML, binary, nested beyond reason, and a valid set
    // too big for the maps (270,000 prefixes beside the generation in force).
    agent_->writePolicy("broken.yaml", "spec: [unclosed\n  - {a: \n");
    agent_->writePolicy("binary.yaml", std::string("\x00\x01\xff\xfe\x7f", 5) + "\n");
    agent_->writePolicy("deep.yaml", std::string(100000, '[') + "\n");
    std::string big =
        "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: big}\n"
        "spec:\n  selector: {name: \"client-*\"}\n  egress:\n    - toCIDR:\n";
    for (int i = 0; i < 270000; i++) {
        big += "        - 10." + std::to_string(i >> 16) + "." + std::to_string((i >> 8) & 255) +
               "." + std::to_string(i & 255) + "/32\n";
    }
    agent_->writePolicy("big.yaml", big);
    json rejected = agent_->waitForEvent(
        [](const json& e) {
            return e["event"]["action"] == "policy-rejected" && e["palisade"].contains("files");
        },
        std::chrono::seconds(60));
    ASSERT_FALSE(rejected.is_null()) << "the oversized set was not rejected; stderr:\n"
                                     << agent_->stderrText();
    EXPECT_NE(rejected["palisade"]["error"].get<std::string>().find(
                  "pal_hosts4 needs 270001 entries, has room for"),
              std::string::npos)
        << rejected.dump();
    expectServing("bad and oversized policy files");

    // A cgroup name with bytes that are not UTF-8 and a space, and a
    // container whose runtime metadata is malformed or over the size limit.
    sandbox_->cgroups().create("system.slice/\xff\xfe odd.scope");
    for (const bool huge : {false, true}) {
        const std::string id = std::string(63, 'e') + (huge ? "1" : "2");
        sandbox_->cgroups().create("system.slice/docker-" + id + ".scope");
        const fs::path meta = fs::path(agent_->dir()) / "docker/containers" / id / "config.v2.json";
        fs::create_directories(meta.parent_path());
        std::ofstream out(meta);
        if (huge) {
            out << "{\"Name\": \"/" << std::string(5 << 20, 'n') << "\"}";
        } else {
            out << "{\"Name\": [\"/x\", {\"Config\": ";
        }
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));  // a scan or two
    RunResult r = run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
    ASSERT_TRUE(r.ok()) << r.output;
    EXPECT_TRUE(json::accept(r.output));
    expectServing("odd cgroup names and bad metadata");
}

}  // namespace
}  // namespace palisade::test
