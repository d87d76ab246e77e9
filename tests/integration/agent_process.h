// The real `palisade run` binary, configured for a Sandbox: cgroupRoot is the
// sandbox's cgroup tree, state, policies, runtime metadata and events live in
// a temporary directory. RAII: stops the agent and runs `palisade cleanup`.
#pragma once

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <ios>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace palisade::test {

// What the agent runs with: full root, or root with nothing but the
// capabilities systemd/palisade.service (and the DaemonSet) grant.
enum class Privileges { Root, Shipped };
void PrintTo(Privileges p, std::ostream* os);
std::string privilegesName(const ::testing::TestParamInfo<Privileges>& info);

class AgentProcess {
  public:
    explicit AgentProcess(Sandbox& sandbox);
    ~AgentProcess();
    AgentProcess(const AgentProcess&) = delete;
    AgentProcess& operator=(const AgentProcess&) = delete;

    // Before start(): docker metadata so that selectors by name find the container.
    void describe(const Container& c);
    void writePolicy(const std::string& fileName, const std::string& yaml);
    std::string& extraConfig() { return extraConfig_; }  // appended to palisade.yaml
    // events.rateLimit ("" = the built-in default) and metrics.listen ("" by
    // default: off, so that agents of parallel test runs never fight for a port).
    std::string& rateLimit() { return rateLimit_; }
    std::string& metricsListen() { return metricsListen_; }
    // runtimes.* of the configuration: by default directories of the agent's own
    // (describe() writes there); tests/e2e points them at real runtimes' state.
    std::string& dockerRoot() { return dockerRoot_; }
    std::string& containerdState() { return containerdState_; }
    std::string& crioStorage() { return crioStorage_; }
    std::string& podmanRoot() { return podmanRoot_; }
    Privileges& privileges() { return privileges_; }
    // RLIMIT_MEMLOCK the agent starts with; unset: the unit's LimitMEMLOCK=infinity under
    // Privileges::Shipped, the test's own as root.
    std::optional<rlim_t>& memlock() { return memlock_; }
    // The network namespace the agent runs in (a name under /run/netns; "" = the test's),
    // which the agent takes for the host's: tests/e2e runs it beside dockerd.
    std::string& netns() { return netns_; }

    // Starts the agent and waits for its agent-ready event (fails the test if
    // it does not come within the timeout).
    // 30 s: in a TCG guest beside other work, loading the BPF object alone took over 10.
    void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // Starts the agent for a start it must refuse: returns its exit code, or -1 when it
    // still runs at the timeout (it is then left running, for stop()).
    int startExpectingExit(std::chrono::milliseconds timeout = std::chrono::seconds(30));
    // SIGTERM; returns the exit code.
    int stop();
    // SIGKILL, as a crash would; returns once the agent is reaped.
    void kill9();

    // Every event written so far (the sink file, one JSON object per line).
    const std::vector<nlohmann::json>& events() const;
    // Waits (bounded) for an event matching `pred`, among the events from the
    // `from`-th on; returns it or null json.
    nlohmann::json waitForEvent(const std::function<bool(const nlohmann::json&)>& pred,
                                std::chrono::milliseconds timeout = std::chrono::seconds(3),
                                size_t from = 0) const;
    std::string stderrText() const;
    // `palisade status --json` of this agent; throws when it fails.
    nlohmann::json status() const;

    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    const std::string& stateDir() const { return stateDir_; }
    const std::string& configPath() const { return configPath_; }

  private:
    void launch();  // writes palisade.yaml, forks and execs the agent

    Sandbox& sandbox_;
    Privileges privileges_ = Privileges::Root;
    std::optional<rlim_t> memlock_;
    std::string netns_;
    std::string dir_;
    std::string stateDir_;
    std::string configPath_;
    std::string extraConfig_;
    std::string rateLimit_;
    std::string metricsListen_;
    std::string dockerRoot_;
    std::string containerdState_;
    std::string crioStorage_;
    std::string podmanRoot_;
    pid_t pid_ = -1;
    mutable std::vector<nlohmann::json> events_;  // parsed so far
    mutable std::streamoff eventsOffset_ = 0;     // bytes of the file parsed so far
};

}  // namespace palisade::test
