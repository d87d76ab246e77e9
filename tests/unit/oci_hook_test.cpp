// `palisade oci-hook`: the OCI state on stdin is outside input (any runtime, any
// annotations), parsed defensively; and what the hook does when the agent cannot
// confirm the container in force: fail the start, or let it start with an event.
#include "control/oci_hook.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "containers/container.h"
#include "control/control_request.h"
#include "control/control_server.h"
#include "temp_dir.h"
#include "util/fd.h"

namespace palisade {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

TEST(OciState, ReadsIdAndPidOfARuntimesState) {
    // As podman's runc sends it to a createRuntime hook.
    const auto state = std::get<OciState>(parseOciState(R"({"ociVersion":"1.0.2-dev",
        "id":"9f2c0e5b7d1a","status":"creating","pid":4711,"bundle":"/run/b",
        "annotations":{"io.podman.annotations.autoremove":"TRUE"}})"));
    EXPECT_EQ(state.id, "9f2c0e5b7d1a");
    EXPECT_EQ(state.pid, 4711);
}

TEST(OciState, RejectsWhatIsNotAStateWithAReason) {
    const std::string longId(kMaxContainerIdBytes + 1, 'a');
    for (const std::string& text : std::vector<std::string>{
             "", "{", "[]", "null", R"("id")", R"({"pid":1})", R"({"id":"","pid":1})",
             R"({"id":7,"pid":1})", R"({"id":"c"})", R"({"id":"c","pid":0})",
             R"({"id":"c","pid":-1})", R"({"id":"c","pid":1.5})", R"({"id":"c","pid":"1"})",
             R"({"id":"c","pid":2147483648})", R"({"id":")" + longId + R"(","pid":1})",
             "\xff\xfe"}) {
        std::variant<OciState, std::string> result;
        ASSERT_NO_THROW(result = parseOciState(text)) << text;
        ASSERT_TRUE(std::holds_alternative<std::string>(result)) << text;
        EXPECT_FALSE(std::get<std::string>(result).empty()) << text;
    }
}

TEST(OciState, CgroupV2PathIsTheZeroLine) {
    EXPECT_EQ(cgroupV2Path("12:cpu,cpuacct:/podman/libpod-a\n1:name=systemd:/x\n"
                           "0::/palisade-test-1/podman/libpod-a\n"),
              "/palisade-test-1/podman/libpod-a");
    EXPECT_EQ(cgroupV2Path("0::/\n"), "/");
    EXPECT_EQ(cgroupV2Path("0::/a b\n"), "/a b");
    EXPECT_EQ(cgroupV2Path("12:cpu:/a\n"), std::nullopt);
    EXPECT_EQ(cgroupV2Path(""), std::nullopt);
    EXPECT_EQ(cgroupV2Path("10::/not-v2\n"), std::nullopt);
}

// The hook run for this very process (it is in a cgroup v2 directory, as a container's
// first process is), against an agent that is not there or does not answer.
class OciHookRun : public ::testing::Test {
  protected:
    void SetUp() override {
        if (findCgroup2Mount().empty()) GTEST_SKIP() << "no cgroup2 mount";
        config_.controlSocket = dir_ / "palisade.sock";
        config_.ociHook.timeout = std::chrono::milliseconds(300);
        config_.events.sinks = {SinkConfig{SinkConfig::Type::File, dir_ / "events.jsonl"}};
    }
    int runHook(const std::string& state) {
        std::istringstream in(state);
        err_.str("");
        const auto begin = std::chrono::steady_clock::now();
        const int rc = runOciHook(config_, in, err_);
        took_ = std::chrono::steady_clock::now() - begin;
        return rc;
    }
    std::string ownState() const {
        return R"({"ociVersion":"1.0.2","id":"c0ffee","status":"creating","pid":)" +
               std::to_string(getpid()) + "}";
    }
    std::vector<nlohmann::json> events() const {
        std::vector<nlohmann::json> out;
        std::ifstream in(dir_ / "events.jsonl");
        for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
        return out;
    }

    TempDir dir_;
    Config config_;
    std::ostringstream err_;
    std::chrono::steady_clock::duration took_{};
};

// Not running, or restarting: tried again until the timeout, then refused.
TEST_F(OciHookRun, NoAgentFailsTheStartByDefault) {
    EXPECT_EQ(runHook(ownState()), 2);
    EXPECT_GE(took_, std::chrono::milliseconds(280));
    EXPECT_LT(took_, std::chrono::milliseconds(1300));
    EXPECT_THAT(err_.str(), HasSubstr("container c0ffee: its policy cannot be confirmed in force"));
    EXPECT_THAT(err_.str(), HasSubstr("cannot reach the agent at " + config_.controlSocket));
    EXPECT_THAT(err_.str(), HasSubstr("refusing to start it (ociHook.onTimeout: fail)"));
    EXPECT_TRUE(events().empty());
}

TEST_F(OciHookRun, NoAgentWithAllowStartsItWithAnEvent) {
    config_.ociHook.onTimeout = Config::OciHook::OnTimeout::Allow;
    EXPECT_EQ(runHook(ownState()), 0);
    EXPECT_THAT(err_.str(), HasSubstr("starting it anyway"));
    const auto written = events();
    ASSERT_EQ(written.size(), 1u);
    EXPECT_EQ(written[0]["event"]["action"], "oci-hook-timeout");
    EXPECT_EQ(written[0]["container"]["id"], "c0ffee");
    EXPECT_EQ(written[0]["palisade"]["timeoutMs"], 300);
    EXPECT_THAT(written[0]["palisade"]["error"].get<std::string>(),
                HasSubstr("cannot reach the agent"));
    EXPECT_GT(written[0]["palisade"]["cgroupId"].get<uint64_t>(), 0u);
}

// An agent restarting: its socket appears 200 ms after the hook started, and the
// hook's answer is the one it gets then.
TEST_F(OciHookRun, AnAgentThatComesUpInTimeIsWaitedFor) {
    config_.ociHook.timeout = std::chrono::milliseconds(3000);
    std::atomic<int> rc{-1};
    std::thread hook([&] { rc = runHook(ownState()); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ControlServer server(config_.controlSocket, {{}, {}, [](const ControlRequest&) {
                                                     return nlohmann::json{{"status", "enforced"}};
                                                 }});
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (rc == -1 && std::chrono::steady_clock::now() < end) {
        std::vector<pollfd> fds;
        server.fillPollFds(fds);
        poll(fds.data(), fds.size(), 20);
        server.handle(fds);
    }
    hook.join();
    EXPECT_EQ(rc, 0) << err_.str();
    EXPECT_EQ(err_.str(), "");
    EXPECT_GE(took_, std::chrono::milliseconds(200));
}

// An agent that accepts connections (the kernel does, into the backlog) but never
// answers: stopped, or stuck. The hook gives up at its timeout, not before, not long after.
TEST_F(OciHookRun, AnAgentThatDoesNotAnswerIsATimeout) {
    const Fd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, config_.controlSocket.c_str());
    ASSERT_EQ(bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(listen(listener.get(), 4), 0);
    EXPECT_EQ(runHook(ownState()), 2);
    EXPECT_THAT(err_.str(), HasSubstr("no answer from the agent"));
    EXPECT_GE(took_, std::chrono::milliseconds(300));
    EXPECT_LT(took_, std::chrono::milliseconds(1300));
}

TEST_F(OciHookRun, AnInvalidStateFailsTheStartWhateverTheSetting) {
    config_.ociHook.onTimeout = Config::OciHook::OnTimeout::Allow;
    EXPECT_EQ(runHook(R"({"id":"c0ffee"})"), 1);
    EXPECT_THAT(err_.str(), HasSubstr("the container state on stdin is not valid: \"pid\""));
    EXPECT_EQ(runHook(std::string(kMaxOciStateBytes + 1, ' ')), 1);
    EXPECT_THAT(err_.str(), HasSubstr("is over 1048576 bytes"));
    EXPECT_TRUE(events().empty());
}

}  // namespace
}  // namespace palisade
