// A Datapath that records what the agent asks of the kernel, so the daemon's
// logic can be tested without root (agent/datapath/datapath.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "datapath/datapath.h"

namespace palisade::testing {

class FakeDatapath : public Datapath {
  public:
    struct Applied {
        MapEntries entries;
        uint64_t generation;
    };

    bool adopted() const override { return adoptedGeneration > 0; }
    uint64_t generation() const override { return adoptedGeneration; }
    void attach() override { attached = true; }
    void apply(const MapEntries& next, uint64_t generation) override {
        if (std::string problem = capacityProblem(next, true); !problem.empty()) {
            throw CapacityError(problem);
        }
        applied.push_back({next, generation});
        cgroups.clear();
        for (const auto& [cgid, entry] : next.cgroups) cgroups[cgid] = entry;
    }
    void retire() override { retired++; }
    std::string capacityProblem(const MapEntries& next, bool besideInForce) const override {
        if (!refuseApply.empty()) return refuseApply;
        const size_t room = maxPrefixes4 - (besideInForce ? prefixes4InForce : 0);
        if (next.lpm4.size() + next.hosts4.size() > room) {
            return "pal_lpm4 needs " + std::to_string(next.lpm4.size() + next.hosts4.size()) +
                   " entries, has room for " + std::to_string(room);
        }
        return "";
    }
    std::vector<uint64_t> containersBeyondRoom(const MapEntries& next) const override {
        return palisade::containersBeyondRoom(next, cgroups, maxContainers);
    }
    void setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry) override {
        if (cgroups.size() >= maxContainers) throw CapacityError("pal_cgroups is full");
        cgroups[cgroupId] = entry;
        setContainers++;
    }
    void removeContainer(uint64_t cgroupId) override { cgroups.erase(cgroupId); }
    int setAddresses(const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                     const std::map<uint64_t, uint64_t>&) override {
        addresses = byContainer;
        return static_cast<int>(byContainer.size());
    }
    VerdictCounters counters() const override { return {}; }
    std::vector<AttachedProgram> programs() const override { return {}; }
    std::map<uint64_t, uint64_t> suppressedEvents() const override { return suppressed; }
    FqdnSweep sweepFqdn(const std::set<uint64_t>&) override { return fqdn; }
    void openEvents(RecordHandler handler) override { onRecord = std::move(handler); }
    int eventsPollFd() const override { return -1; }
    void consumeEvents() override {}

    uint64_t adoptedGeneration = 0;  // what a previous agent left in the maps
    FqdnSweep fqdn;                  // what sweepFqdn() answers
    bool attached = false;
    std::vector<Applied> applied;
    int retired = 0;
    int setContainers = 0;
    // pal_cgroups as the kernel would hold it.
    std::map<uint64_t, MapEntries::ContainerEntry> cgroups;
    std::map<uint64_t, std::vector<IpAddress>> addresses;
    std::map<uint64_t, uint64_t> suppressed;
    RecordHandler onRecord;
    std::string refuseApply;          // not empty: apply() throws CapacityError with it
    size_t maxPrefixes4 = SIZE_MAX;   // IPv4 prefixes of one generation beyond which apply() throws
    size_t prefixes4InForce = 0;      // of them, held by the generation in force (an adopted one)
    size_t maxContainers = SIZE_MAX;  // pal_cgroups' size: setContainer() throws beyond it
};

}  // namespace palisade::testing
