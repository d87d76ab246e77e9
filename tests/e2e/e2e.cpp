#include "e2e.h"

#include <algorithm>
#include <filesystem>
#include <sstream>
#include <thread>

namespace palisade::test {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

void E2E::SetUp() {
    PALISADE_REQUIRE_ROOT();
    sandbox_ = std::make_unique<Sandbox>();
    char tmpl[] = "/tmp/pal-e2e-image-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    imageDir_ = tmpl;
    image_ = std::make_unique<BusyboxImage>(imageDir_);
    agent_ = std::make_unique<AgentProcess>(*sandbox_);
    server_ = std::make_unique<Server>(sandbox_->listenOnBridge(8080));
}

void E2E::TearDown() {
    server_.reset();
    podman_.reset();
    containerd_.reset();
    docker_.reset();
    agent_.reset();
    image_.reset();
    if (!imageDir_.empty()) std::filesystem::remove_all(imageDir_);
    if (sandbox_)
        removeCgroupV1Dirs(sandbox_->cgroups().relativeToMount(sandbox_->cgroups().path()));
    sandbox_.reset();
}

void E2E::usePodman() {
    podman_ = std::make_unique<Podman>(*sandbox_, *image_);
    agent_->podmanRoot() = podman_->graphRoot();
}

json E2E::containers() const {
    RunResult r = run({PALISADE_BINARY, "containers", "--json", "--config", agent_->configPath()});
    if (!r.ok()) return json();
    return json::parse(r.output, nullptr, false);
}

json E2E::waitForContainer(const std::string& id, const json& policies) const {
    return waitForContainer(id, policies, "");
}

json E2E::waitForContainer(const std::string& id, const json& policies,
                           const std::string& ip) const {
    auto listsIp = [&](const json& c) {
        if (ip.empty()) return true;
        for (const json& a : c.value("addresses", json::array())) {
            if (a == ip) return true;
        }
        return false;
    };
    json last;
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    do {
        const json list = containers();
        for (const json& c : list.is_array() ? list : json::array()) {
            if (c.value("id", "") != id) continue;
            last = c;
            if (c["policies"] == policies && listsIp(c)) return c;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return last;
}

bool E2E::waitUntilForgotten(const std::string& id) const {
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    do {
        const json list = containers();
        bool listed = !list.is_array();
        for (const json& c : list.is_array() ? list : json::array()) {
            listed = listed || c.value("id", "") == id;
        }
        if (!listed) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } while (Clock::now() < deadline);
    return false;
}

E2E::AddressEntries E2E::waitForAddressConflict(const std::string& thief, const std::string& victim,
                                                const std::string& address) const {
    AddressEntries seen;
    const auto deadline = Clock::now() + std::chrono::seconds(25);
    do {
        const json list = containers();
        for (const json& c : list.is_array() ? list : json::array()) {
            if (c.value("id", "") == thief) seen.thief = c;
            if (c.value("id", "") == victim) seen.victim = c;
        }
        if (holdsAddress(seen.victim, address) &&
            seen.thief.value("addressConflicts", json::object()).value(address, "") == victim) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } while (Clock::now() < deadline);
    return seen;
}

bool E2E::holdsAddress(const json& entry, const std::string& address) {
    const json addresses = entry.value("addresses", json::array());
    return std::find(addresses.begin(), addresses.end(), address) != addresses.end();
}

json E2E::waitForKernelEvent(const std::string& action, const std::string& id, size_t from) const {
    return agent_->waitForEvent(
        [&](const json& e) {
            return e["event"]["action"] == action && e.contains("container") &&
                   e["container"].value("id", "") == id;
        },
        std::chrono::seconds(5), from);
}

std::string firstWord(const std::string& text) {
    std::istringstream in(text);
    std::string word;
    in >> word;
    return word;
}

}  // namespace palisade::test
