// What `palisade status` and `palisade containers` show (docs/reference/cli.md), built from a
// snapshot of the agent's state; plus their human-readable rendering.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "containers/container.h"
#include "containers/netns_addresses.h"
#include "daemon/policy_store.h"
#include "datapath/datapath.h"

namespace palisade {

struct StatusInputs {
    const Config& config;
    const std::string& cgroupRoot;
    const nlohmann::json& features;
    uint64_t generation;
    std::vector<AttachedProgram> programs;
    VerdictCounters counters;
    const PolicySet& policySet;                            // in force
    const std::map<std::string, std::string>& notInForce;  // valid files left out, and why
    const std::vector<Container>& containers;
    std::map<uint64_t, std::vector<std::string>> policiesByCgroup;
    uint64_t subscriberDrops;
    const LearnedAddresses& addresses;
    std::string addressProblem = "";  // the address maps hold only part of `addresses`: why
    // The API server (PodSource::statusJson, or why it cannot be used); null: off.
    nlohmann::json kubernetes = nullptr;
    // Addresses learned from DNS (docs/reference/enforcement.md#fqdn) at the last sweep, and
    // the text of each selector id.
    const FqdnSweep* fqdn = nullptr;
    const std::map<uint64_t, std::string>* fqdnNames = nullptr;
};

nlohmann::json statusJson(const StatusInputs& in);
// The running kernel's release (uname -r).
std::string kernelRelease();
// The fallbacks the kernel's features (as probed at start) put in force, by name
// (docs/kernels.md#what-differs-between-kernels).
nlohmann::json kernelFallbacks(const nlohmann::json& features);
// An array of {id, name, runtime, namespace, pod, cgroup, cgroupId, policies,
// addresses, addressError when they could not be read, metadataError when the
// runtime's metadata could not be, and fqdn: the addresses it learned from DNS}.
nlohmann::json containersJson(const StatusInputs& in);

std::string statusText(const nlohmann::json& status);
std::string containersText(const nlohmann::json& containers);

}  // namespace palisade
