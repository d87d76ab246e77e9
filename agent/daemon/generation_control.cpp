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

namespace {

std::vector<std::string> pathsOf(const PolicySet& set) {
    std::vector<std::string> out;
    for (const auto& [path, file] : set.files) out.push_back(path);
    return out;
}

}  // namespace

MapEntries GenerationControl::compileNext(const PolicySet& set) const {
    MapEntries entries = compile(*set.policies, inventory_.containers(), defaults_,
                                 generationIdBase(generation_ + 1));
    for (uint64_t cgid : datapath_.containersBeyondRoom(entries)) {
        entries.cgroups.erase(cgid);
    }
    return entries;
}

std::optional<GenerationControl::Refusal> GenerationControl::tryApply(const PolicySet& set) {
    try {
        return tryApply(set, compileNext(set));
    } catch (const CompileError& e) {
        return Refusal{e.what(), e.diagnostic().where.file};
    }
}

std::optional<GenerationControl::Refusal> GenerationControl::tryApply(const PolicySet& set,
                                                                      const MapEntries& entries) {
    const uint64_t next = generation_ + 1;
    try {
        datapath_.apply(entries, next);
    } catch (const DatapathError& e) {
        // Too big for the maps (CapacityError) or a write the kernel refused:
        // nothing of it is in force.
        return Refusal{e.what(), ""};
    }
    generation_ = next;
    inForce_ = set;
    // The slot `next` reuses held the generation before the one just replaced.
    std::erase_if(epidPolicies_, [&](const auto& kv) {
        return (kv.first & generationIdBase(1)) == generationIdBase(next);
    });
    epidPolicies_.insert(entries.epidPolicies.begin(), entries.epidPolicies.end());
    for (const auto& [id, name] : entries.fqdnNames) fqdnNames_[id] = name.text;
    fqdnSelectorsInForce_ = entries.fqdnNames.size();
    epidByCgroup_.clear();
    for (const auto& [cgid, e] : entries.cgroups) epidByCgroup_[cgid] = e.epid;
    pruneNotInForce();
    for (const auto& [path, file] : set.files) {
        events_.publish(events_.agentEvent("policy-applied", {{"generation", generation_},
                                                              {"file", path},
                                                              {"sha256", file.sha256},
                                                              {"policies", file.policyNames}}));
    }
    // Containers pal_cgroups had no room for (compileNext), named once.
    std::set<uint64_t> waiting;
    for (const auto& c : inventory_.containers()) {
        if (entries.cgroups.count(c.cgroupId)) continue;
        waiting.insert(c.cgroupId);
        if (!waiting_.count(c.cgroupId)) {
            notEnforced(c.cgroupId,
                        "pal_cgroups has no room for it (limits.containers); it "
                        "waits for other containers to stop");
        }
    }
    waiting_ = std::move(waiting);
    spdlog::info(
        "generation {} in force: {} policies, {} containers, {} IPv4 and {} IPv6 prefixes, {} "
        "class entries",
        generation_, set.policies->size(), entries.cgroups.size(),
        entries.lpm4.size() + entries.hosts4.size(), entries.lpm6.size() + entries.hosts6.size(),
        entries.classes.size());
    events_.flush();     // "in force" is said as soon as it is true,
    datapath_.retire();  // then the old generation goes
    giveRoomToWaiting();
    return std::nullopt;
}

void GenerationControl::giveRoomToWaiting() {
    if (waiting_.empty()) return;
    // The entries of containers the last generation dropped (gone while an earlier agent
    // was away, say) went only at retire(): the room they leave is for those waiting.
    std::optional<Refusal> refused;
    try {
        const MapEntries entries = compileNext(inForce_);
        size_t stillWaiting = 0;
        for (uint64_t cgid : waiting_) stillWaiting += !entries.cgroups.count(cgid);
        if (stillWaiting == waiting_.size()) return;
        refused = tryApply(inForce_, entries);  // which comes back here while some fit
    } catch (const CompileError& e) {
        refused = Refusal{e.what(), e.diagnostic().where.file};
    }
    if (refused) {
        refused->error = "containers waiting for room, not enforced yet: " + refused->error;
        reject({}, *refused);
    }
}

std::optional<GenerationControl::Refusal> GenerationControl::check(const PolicySet& set) const {
    try {
        std::string problem = datapath_.capacityProblem(compileNext(set), true);
        if (problem.empty()) return std::nullopt;
        return Refusal{std::move(problem), ""};
    } catch (const CompileError& e) {
        return Refusal{e.what(), e.diagnostic().where.file};
    }
}

void GenerationControl::pruneNotInForce() {
    std::erase_if(notInForce_, [&](const auto& kv) {
        const auto now = store_.set().files.find(kv.first);
        if (now == store_.set().files.end()) return true;
        const auto in = inForce_.files.find(kv.first);
        return in != inForce_.files.end() && in->second.sha256 == now->second.sha256;
    });
}

void GenerationControl::reject(const std::vector<std::string>& files, const Refusal& why) {
    spdlog::error("policy set not applied, generation {} stays in force: {}", generation_,
                  why.error);
    pruneNotInForce();
    nlohmann::json names = nlohmann::json::array();
    for (const auto& path : files) {
        names.push_back(path);
        // Files whose version in force is this one are in force all the same.
        const auto in = inForce_.files.find(path);
        const auto now = store_.set().files.find(path);
        if (in == inForce_.files.end() || now == store_.set().files.end() ||
            in->second.sha256 != now->second.sha256) {
            notInForce_[path] = why.error;
        }
    }
    nlohmann::json fields = {{"files", names}, {"error", why.error}};
    if (!why.file.empty()) fields["file"] = why.file;
    events_.publish(events_.agentEvent("policy-rejected", fields));
}

bool GenerationControl::applyNext() {
    const PolicySet& set = store_.set();
    const std::optional<Refusal> refused = tryApply(set);
    if (!refused) {
        notInForce_.clear();
        return true;
    }
    reject(pathsOf(set), *refused);
    return false;
}

GenerationControl::Start GenerationControl::applyFirst(Config::Limits::TooLargeAtStart tooLarge) {
    // Compiled once: a long allowlist is the costliest step of a start.
    std::optional<Refusal> whole;
    try {
        const MapEntries entries = compileNext(store_.set());
        if (datapath_.adopted() && !datapath_.capacityProblem(entries, true).empty() &&
            datapath_.capacityProblem(entries, false).empty()) {
            return Start::NeedsEmptyMaps;
        }
        whole = tryApply(store_.set(), entries);
    } catch (const CompileError& e) {
        whole = Refusal{e.what(), e.diagnostic().where.file};
    }
    if (!whole) return Start::InForce;
    // Only a set too large (or one that does not compile) runs with part of itself; a write
    // the kernel refused for another reason fails the start.
    const size_t all = store_.files().size();
    if (tooLarge == Config::Limits::TooLargeAtStart::Refuse || all == 0 || !check(store_.set())) {
        reject(pathsOf(store_.set()), *whole);
        return Start::Failed;
    }
    // The longest run of files, in name order, that compiles and fits: a binary search,
    // so that a start compiles a logarithmic number of sets, not one per file. check() of
    // all of them failed, so fewer than all fit and the file after them exists.
    size_t lo = 0, hi = all;  // the first `lo` files fit (none: assumed), the first `hi` do not
    while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        (check(store_.firstFiles(mid)) ? hi : lo) = mid;
    }
    const PolicySet first = store_.firstFiles(lo);
    if (const auto failed = tryApply(first)) {
        spdlog::error("not even the first {} of {} policy files can be put in force: {}", lo, all,
                      failed->error);
        return Start::Failed;
    }
    const PolicySet failing = store_.firstFiles(lo + 1);
    Refusal why = check(failing).value_or(Refusal{"", ""});
    why.error = "left out at start (limits.tooLargeAtStart: run): with " +
                failing.files.rbegin()->first + ": " + why.error;
    std::vector<std::string> left;
    for (const auto& [path, file] : store_.files()) {
        if (!first.files.count(path)) left.push_back(path);
    }
    reject(left, why);
    return Start::InForce;
}

void GenerationControl::containersChanged(const InventoryDiff& diff) {
    if (!diff.changed()) return;
    // With containers waiting for room (limits.containers), a stop gives it: a generation.
    if ((waiting_.empty() || diff.stopped.empty()) && tryFastPath(diff)) return;
    // The stopped containers' entries go first: their room is the generation's.
    removeStopped(diff.stopped);
    // A generation of the policies in force: a policy change that was rejected stays so.
    const PolicySet set = inForce_;
    if (auto refused = tryApply(set)) {
        // Not the files' fault: they stay in force, for the containers they had.
        refused->error = "containers changed, not enforced yet: " + refused->error;
        reject({}, *refused);
    }
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
        for (const auto& p : governing()) {
            if (selectorMatches(p.selector, c)) names.push_back(p.name);
        }
        auto it = epidOf.find(names);
        if (it == epidOf.end() || isPeerTarget(c)) return false;
        const auto index = inventory_.indexOf(c.cgroupId);
        if (!index) return false;
        entries.push_back({c.cgroupId, {it->second, static_cast<uint32_t>(*index)}});
    }
    removeStopped(diff.stopped);
    for (const auto& [cgid, entry] : entries) {
        try {
            datapath_.setContainer(cgid, entry);
            epidByCgroup_[cgid] = entry.epid;
        } catch (const DatapathError& e) {
            // pal_cgroups full (limits.containers): this container is not enforced, and
            // says so (inForce() is false for it); the others go on.
            if (waiting_.insert(cgid).second) notEnforced(cgid, e.what());
        }
    }
    return true;
}

void GenerationControl::removeStopped(const std::vector<Container>& stopped) {
    for (const auto& c : stopped) {
        datapath_.removeContainer(c.cgroupId);
        epidByCgroup_.erase(c.cgroupId);
        waiting_.erase(c.cgroupId);
    }
}

void GenerationControl::notEnforced(uint64_t cgroupId, const std::string& why) {
    spdlog::error("container of cgroup {} not enforced: {}", cgroupId, why);
    events_.publish(events_.agentEvent(
        "policy-rejected", {{"cgroupId", cgroupId}, {"error", "container not enforced: " + why}}));
}

bool GenerationControl::isPeerTarget(const Container& c) const {
    for (const auto& p : governing()) {
        for (const auto& rule : p.egress) {
            if (rule.toContainers && selectorMatches(*rule.toContainers, c)) return true;
        }
    }
    return false;
}

const std::string* GenerationControl::fqdnNameOf(uint64_t selector) const {
    auto it = fqdnNames_.find(selector);
    return it == fqdnNames_.end() ? nullptr : &it->second;
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
