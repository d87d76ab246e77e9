// `palisade oci-hook` with real podman (and runc): the shipped hook file, pointed at
// this build, in podman's hooks directory.
//
// The agent is made slow to notice cgroups by stopping it (SIGSTOP, by PID) for 3 s from
// just before each start: without the hook a container whose only instruction is a
// denied connect then gets through; with it, never. With the agent stopped for good,
// the hook refuses the start within its timeout (onTimeout: fail) or lets it start and
// writes oci-hook-timeout (allow).
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "e2e.h"

namespace palisade::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

void writeTo(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + text + " to " + path);
}

// The agent stopped (SIGSTOP, by PID) from now until `resume` has passed, or until
// destroyed without one: then SIGCONT.
class Paused {
  public:
    explicit Paused(pid_t pid, std::optional<std::chrono::milliseconds> resume = std::nullopt)
        : pid_(pid) {
        kill(pid_, SIGSTOP);
        if (resume) {
            resumer_ = std::thread([this, after = *resume] {
                std::this_thread::sleep_for(after);
                kill(pid_, SIGCONT);
            });
        }
    }
    ~Paused() {
        if (resumer_.joinable()) resumer_.join();
        kill(pid_, SIGCONT);
    }
    Paused(const Paused&) = delete;
    Paused& operator=(const Paused&) = delete;

  private:
    pid_t pid_;
    std::thread resumer_;
};

class E2eOciHook : public E2E {
  protected:
    void SetUp() override {
        E2E::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        usePodman();
        agent_->writePolicy("web.yaml", kWebPolicy);
        agent_->start();
        network_ = &sandbox_->addNetwork("web");
    }

    // The shipped hook file with this build's binary and a configuration of the hook's
    // own: the agent's socket and event file, and `ociHook`.
    void installHook(const std::string& ociHook) {
        const std::string config = podman_->hooksDir() + "/../hook.yaml";
        writeTo(config, "controlSocket: " + agent_->dir() + "/palisade.sock\n" +
                            "events:\n  sinks:\n    - {type: file, path: " + agent_->dir() +
                            "/events.jsonl}\n" + "ociHook: " + ociHook + "\n");
        std::ifstream shipped(PALISADE_SOURCE_DIR "/deploy/oci-hooks.d/palisade.json");
        json hook = json::parse(shipped);
        hook["hook"]["path"] = PALISADE_BINARY;
        hook["hook"]["args"][3] = config;
        writeTo(podman_->hooksDir() + "/palisade.json", hook.dump(2));
    }

    // `podman run --rm` named `name` of `command` in the network.
    RunResult start(const std::string& name, const std::vector<std::string>& command) {
        std::vector<std::string> args{"run", "--rm", "--name", name};
        for (const std::string& o : podman_->placement(*network_)) args.push_back(o);
        args.push_back(BusyboxImage::kName);
        args.insert(args.end(), command.begin(), command.end());
        return podman_->podman(args);
    }
    // The first word of a denied connect as the container's only instruction.
    std::string deniedConnect(const std::string& name) {
        const RunResult r =
            start(name, {"/net_probe", "connect", "tcp", sandbox_->bridgeIp4(), "8081"});
        return r.ok() || firstWord(r.output) == "EPERM" ? firstWord(r.output)
                                                        : "failed: " + r.output;
    }

    Container* network_ = nullptr;
};

// An agent slow to notice a cgroup: it does not run for 3 s from just before each
// start (throttling its CPU to 1 ms per 100 ms left no window here: the agent still
// noticed every container before its first instruction).
TEST_F(E2eOciHook, ASlowAgentStillEnforcesTheFirstInstructionWithTheHook) {
    constexpr int kStarts = 5;
    constexpr std::chrono::milliseconds kSlow{3000};

    // Without the hook: the window is real, starts get through.
    int through = 0;
    std::string seen;
    for (int i = 0; i < kStarts; i++) {
        Paused slow(agent_->pid(), kSlow);
        const std::string word = deniedConnect("web-bare" + std::to_string(i));
        seen += " " + word;
        through += word != "EPERM";
    }
    EXPECT_GT(through, 0) << "no start got through the slow agent without the hook:" << seen;
    RecordProperty("startsThroughWithoutTheHook", through);

    installHook("{timeout: 30s}");
    for (int i = 0; i < kStarts; i++) {
        Paused slow(agent_->pid(), kSlow);
        const auto begin = Clock::now();
        EXPECT_EQ(deniedConnect("web-hooked" + std::to_string(i)), "EPERM") << "start " << i;
        EXPECT_GE(Clock::now() - begin, kSlow) << "the start did not wait for the agent";
    }
}

TEST_F(E2eOciHook, AStoppedAgentFailsTheStartWithinTheTimeout) {
    installHook("{timeout: 1s, onTimeout: fail}");
    EXPECT_EQ(deniedConnect("web-running"), "EPERM");  // the hook with the agent up
    Paused stopped(agent_->pid());
    const auto begin = Clock::now();
    const RunResult r = start("web-stopped", {"true"});
    const auto took = Clock::now() - begin;
    EXPECT_FALSE(r.ok()) << r.output;
    EXPECT_NE(r.output.find("refusing to start it (ociHook.onTimeout: fail)"), std::string::npos)
        << r.output;
    EXPECT_GE(took, std::chrono::seconds(1));
    EXPECT_LT(took, std::chrono::seconds(6)) << "podman's own start is well below 5 s";
}

TEST_F(E2eOciHook, AStoppedAgentWithAllowLetsItStartAndSaysSo) {
    installHook("{timeout: 1s, onTimeout: allow}");
    const size_t before = agent_->events().size();
    {
        Paused stopped(agent_->pid());
        const RunResult r = start("web-allowed", {"true"});
        EXPECT_TRUE(r.ok()) << r.output;
    }
    const json event = agent_->waitForEvent(
        [](const json& e) { return e["event"]["action"] == "oci-hook-timeout"; },
        std::chrono::seconds(5), before);
    ASSERT_FALSE(event.is_null()) << "no oci-hook-timeout event";
    EXPECT_EQ(event["container"]["id"].get<std::string>().size(), 64u) << event.dump();
    EXPECT_NE(event["palisade"]["error"].get<std::string>().find("no answer from the agent"),
              std::string::npos)
        << event.dump();
    EXPECT_EQ(event["palisade"]["timeoutMs"], 1000);
}

}  // namespace
}  // namespace palisade::test
