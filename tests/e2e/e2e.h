// The fixture of tests/e2e: a Sandbox (the cgroup tree the agent attaches to, and the
// bridge netns that stands for the outside world, with a TCP listener on port 8080), an
// image, the real `palisade run` (AgentProcess) and whichever real runtime a test starts. Torn down
// in that order reversed, also when a test fails half-way: runtimes (containers, images, daemons),
// the agent (stop, `palisade cleanup`), the image, the sandbox.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "../integration/agent_process.h"
#include "harness.h"
#include "runtimes.h"

namespace palisade::test {

class E2E : public ::testing::Test {
  protected:
    void SetUp() override;
    void TearDown() override;

    // Starts podman_ (runtimes.h) and points the agent's runtimes.crioStorage at it.
    void usePodman();
    // `palisade containers --json` of the running agent.
    nlohmann::json containers() const;
    // The agent's entry for `id`, once it has one whose policies are `policies` (polled
    // for up to 10 s); the last entry seen (or null) otherwise, for the test to report.
    nlohmann::json waitForContainer(const std::string& id, const nlohmann::json& policies) const;
    // The same, once its entry also lists the address `ip` (learned from its netns).
    nlohmann::json waitForContainer(const std::string& id, const nlohmann::json& policies,
                                    const std::string& ip) const;
    // Polls until the agent no longer lists `id` (true) or 10 s pass.
    bool waitUntilForgotten(const std::string& id) const;
    // The agent's entries of containers `thief` and `victim` once victim's addresses hold
    // `address` and thief's addressConflicts give it to victim (polled for up to 25 s); the
    // last ones seen otherwise.
    struct AddressEntries {
        nlohmann::json thief, victim;
    };
    AddressEntries waitForAddressConflict(const std::string& thief, const std::string& victim,
                                          const std::string& address) const;
    // Whether an entry of `palisade containers --json` lists `address` among its addresses.
    static bool holdsAddress(const nlohmann::json& entry, const std::string& address);
    // A kernel event of `action` for container `id` among those from the `from`-th on.
    nlohmann::json waitForKernelEvent(const std::string& action, const std::string& id,
                                      size_t from = 0) const;

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<AgentProcess> agent_;
    std::unique_ptr<BusyboxImage> image_;
    std::unique_ptr<Dockerd> docker_;
    std::unique_ptr<Containerd> containerd_;
    std::unique_ptr<Podman> podman_;
    std::unique_ptr<Server> server_;  // [::]:8080 in the bridge netns

  private:
    std::string imageDir_;
};

// Podman containers named web* may reach the bridge's 198.18.0.1 on TCP 8080, nothing else.
inline constexpr const char* kWebPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: web}
spec:
  selector: {name: "web*"}
  mode: enforce
  egress:
    - toCIDR: ["198.18.0.1/32"]
      ports: [{port: 8080, protocol: TCP}]
)";

// The address-theft tests' client: it may reach the container named thief on TCP 8080.
inline constexpr const char* kClientToThiefPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: client}
spec:
  selector: {name: client}
  mode: enforce
  egress:
    - toContainers: {name: thief}
      ports: [{port: 8080, protocol: TCP}]
)";

// The first word of a command's output ("ok", "EPERM", ...).
std::string firstWord(const std::string& text);

}  // namespace palisade::test
