#include "daemon/generation_control.h"

#include <spdlog/spdlog.h>

#include "compiler/compiler.h"

namespace palisade {

GenerationControl::GenerationControl(Datapath& datapath, const PolicyStore& store,
                                     const ContainerInventory& inventory,
                                     const Config::Defaults& defaults, EventPump& events)
    : datapath_(datapath),
      store_(store),
      inventory_(inventory),
      defaults_(defaults),
      events_(events),
      generation_(datapath.generation()) {}

bool GenerationControl::applyNext() {
    const uint64_t next = generation_ + 1;
    MapEntries entries;
    try {
        entries =
            compile(store_.policies(), inventory_.containers(), defaults_, generationIdBase(next));
    } catch (const CompileError& e) {
        spdlog::error("policy set not applied, generation {} stays in force: {}", generation_,
                      e.what());
        events_.publish(events_.agentEvent("policy-rejected", {{"file", e.diagnostic().where.file},
                                                               {"error", e.diagnostic().str()}}));
        return false;
    }
    try {
        datapath_.apply(entries, next);
    } catch (const DatapathError& e) {
        // Too big for the maps (CapacityError) or a write the kernel refused:
        // nothing of it is in force, and the agent goes on with what is.
        spdlog::error("policy set not applied, generation {} stays in force: {}", generation_,
                      e.what());
        nlohmann::json files = nlohmann::json::array();
        for (const auto& [path, file] : store_.files()) files.push_back(path);
        events_.publish(
            events_.agentEvent("policy-rejected", {{"files", files}, {"error", e.what()}}));
        return false;
    }
    generation_ = next;
    // The slot `next` reuses held the generation before the one just replaced.
    std::erase_if(epidPolicies_, [&](const auto& kv) {
        return (kv.first & generationIdBase(1)) == generationIdBase(next);
    });
    epidPolicies_.insert(entries.epidPolicies.begin(), entries.epidPolicies.end());
    epidByCgroup_.clear();
    for (const auto& [cgid, e] : entries.cgroups) epidByCgroup_[cgid] = e.epid;
    for (const auto& [path, file] : store_.files()) {
        nlohmann::json names = nlohmann::json::array();
        for (const auto& p : file.policies) names.push_back(p.name);
        events_.publish(events_.agentEvent("policy-applied", {{"generation", generation_},
                                                              {"file", path},
                                                              {"sha256", file.sha256},
                                                              {"policies", names}}));
    }
    spdlog::info("generation {} in force: {} policies, {} containers, {} IPv4 and {} IPv6 prefixes",
                 generation_, store_.policies().size(), inventory_.containers().size(),
                 entries.lpm4.size(), entries.lpm6.size());
    events_.flush();     // "in force" is said as soon as it is true,
    datapath_.retire();  // then the old generation goes
    return true;
}

void GenerationControl::containersChanged(const InventoryDiff& diff) {
    if (!diff.changed()) return;
    if (!tryFastPath(diff)) applyNext();
}

bool GenerationControl::tryFastPath(const InventoryDiff& diff) {
    if (diff.metadataChanged) return false;  // selections may differ: recompile
    const uint32_t slot = generationIdBase(generation_);
    std::map<std::vector<std::string>, uint32_t> epidOf;  // policy sets in force
    for (const auto& [epid, names] : epidPolicies_) {
        if ((epid & generationIdBase(1)) == slot) epidOf[names] = epid;
    }
    std::vector<std::pair<uint64_t, MapEntries::ContainerEntry>> entries;
    for (const auto& c : diff.started) {
        std::vector<std::string> names;
        for (const auto& p : store_.policies()) {
            if (selectorMatches(p.selector, c)) names.push_back(p.name);
        }
        auto it = epidOf.find(names);
        if (it == epidOf.end() || isPeerTarget(c)) return false;
        const auto index = inventory_.indexOf(c.cgroupId);
        if (!index) return false;
        entries.push_back({c.cgroupId, {it->second, static_cast<uint32_t>(*index)}});
    }
    for (const auto& [cgid, entry] : entries) {
        datapath_.setContainer(cgid, entry);
        epidByCgroup_[cgid] = entry.epid;
    }
    for (const auto& c : diff.stopped) {
        datapath_.removeContainer(c.cgroupId);
        epidByCgroup_.erase(c.cgroupId);
    }
    return true;
}

bool GenerationControl::isPeerTarget(const Container& c) const {
    for (const auto& p : store_.policies()) {
        for (const auto& rule : p.egress) {
            if (rule.toContainers && selectorMatches(*rule.toContainers, c)) return true;
        }
    }
    return false;
}

const std::vector<std::string>* GenerationControl::policiesOf(uint32_t epid) const {
    auto it = epidPolicies_.find(epid);
    return it == epidPolicies_.end() ? nullptr : &it->second;
}

std::map<uint64_t, std::vector<std::string>> GenerationControl::policiesByCgroup() const {
    std::map<uint64_t, std::vector<std::string>> out;
    for (const auto& c : inventory_.containers()) {
        auto e = epidByCgroup_.find(c.cgroupId);
        const auto* names = e == epidByCgroup_.end() ? nullptr : policiesOf(e->second);
        out[c.cgroupId] = names ? *names : std::vector<std::string>{};
    }
    return out;
}

}  // namespace palisade
