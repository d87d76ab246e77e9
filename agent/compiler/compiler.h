// Turns the policies in force and the known containers into the exact map
// entries the BPF programs read (include/palisade/abi.h). Pure: no kernel.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "containers/container.h"
#include "policy/policy.h"
#include "util/diagnostic.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

// One generation of map contents. Ids (epids, port set ids) are allocated from
// `idBase` so that two generations can live in the maps side by side.
struct MapEntries {
    struct ContainerEntry {
        uint32_t epid = 0;
        uint32_t container = 0;  // index into the containers given to compile()
    };
    std::map<uint64_t, ContainerEntry> cgroups;  // by cgroup id
    std::map<uint32_t, pal_policy> policies;     // by epid (written into pal_cgroups)
    std::map<uint32_t, pal_portset> portsets;    // by port set id
    // The node's prefixes, each once, with its class (docs/prefix-classes.md): single
    // addresses (/32, /128) in the host maps, the rest in the tries.
    std::vector<std::pair<pal_host4_key, uint32_t>> hosts4;
    std::vector<std::pair<pal_host6_key, uint32_t>> hosts6;
    std::vector<std::pair<pal_lpm4_key, uint32_t>> lpm4;
    std::vector<std::pair<pal_lpm6_key, uint32_t>> lpm6;
    // What each policy set (or its bind key) allows in each class that any of its rules holds.
    std::vector<std::pair<pal_class_key, pal_lpm_value>> classes;
    // toContainers rules (docs/reference/enforcement.md#inter-container): (sender's epid, receiving
    // container) -> ports.
    // The ports of each toFQDNs selector a policy set has are here too, under
    // PAL_FQDN_SELECTOR | selector id (docs/reference/enforcement.md#fqdn).
    std::vector<std::pair<pal_peer_key, pal_ports>> peers;
    // Every toFQDNs selector of the generation, by id: its pal_fqdn_names key, and its
    // text for status and events ("api.stripe.com", "*.s3.amazonaws.com"; empty when
    // adopted from a previous agent's maps).
    struct FqdnName {
        pal_fqdn_name key{};
        std::string text;
    };
    std::map<uint64_t, FqdnName> fqdnNames;
    // For status and events: the policy names behind each epid (empty: unmatched).
    std::map<uint32_t, std::vector<std::string>> epidPolicies;
};

// A policy set that cannot be represented (e.g. more port ranges for one prefix
// than PAL_MAX_PORT_RANGES); carries the location of the offending rule.
class CompileError : public std::runtime_error {
  public:
    explicit CompileError(Diagnostic d) : std::runtime_error(d.str()), diagnostic_(std::move(d)) {}
    const Diagnostic& diagnostic() const { return diagnostic_; }

  private:
    Diagnostic diagnostic_;
};

// The high bit of every id tells the two generation slots apart.
inline uint32_t generationIdBase(uint64_t generation) {
    return (generation & 1) ? PAL_SLOT_BIT : 0u;
}

MapEntries compile(const std::vector<Policy>& policies, const std::vector<Container>& containers,
                   const Config::Defaults& defaults, uint32_t idBase);

// The containers of `next` that a pal_cgroups of `capacity` entries holding `inForce` has no
// room for: of those not in force, the newest cgroups (highest ids) beyond the room.
std::vector<uint64_t> containersBeyondRoom(
    const MapEntries& next, const std::map<uint64_t, MapEntries::ContainerEntry>& inForce,
    size_t capacity);

}  // namespace palisade
