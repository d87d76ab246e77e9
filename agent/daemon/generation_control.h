// Which generation of map entries is in force, and how policy and container
// changes reach the kernel (docs/architecture.md). A new container whose policy
// set is in force already just gets its pal_cgroups entry (the fast path);
// anything else -- a policy change, a container that starts a new policy set
// or is the target of a toContainers rule, changed metadata -- is compiled into
// the next generation and switched to make-before-break by the Datapath.
//
// A policy change the compiler or the maps cannot take is rejected as a whole
// (docs/reference/enforcement.md#capacity): the policies in force stay in force, and
// containers that come and go later get entries under them, not under the rejected ones.
// Containers beyond pal_cgroups' room are not the policies' fault: they wait, named, and
// get their entries once others have stopped.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "daemon/container_inventory.h"
#include "daemon/event_pump.h"
#include "daemon/policy_store.h"
#include "datapath/datapath.h"

namespace palisade {

class GenerationControl {
  public:
    // Starts from the generation the datapath holds (adopted after a restart).
    GenerationControl(Datapath& datapath, const PolicyStore& store,
                      const ContainerInventory& inventory, const Config::Defaults& defaults,
                      EventPump& events);

    uint64_t generation() const { return generation_; }

    // Compiles the store's policies and the containers as they are now and puts them in
    // force. When they cannot be compiled or do not fit, the policies in force stay, a
    // policy-rejected event says why, and it returns false.
    bool applyNext();

    // The first generation of this agent. When the store's whole set does not fit
    // (or compile) and `tooLarge` is Run, it puts in force the most files, in name order,
    // that do (policy-rejected names the others): InForce. Failed when not even that
    // works, or with Refuse. NeedsEmptyMaps, with nothing written, when the whole set fits
    // the maps only without the generation an earlier agent left in them (adopted): the
    // caller opens new maps and asks again (docs/reference/enforcement.md#capacity).
    enum class Start { InForce, NeedsEmptyMaps, Failed };
    Start applyFirst(Config::Limits::TooLargeAtStart tooLarge);

    // Puts one scan's changes in force: the fast path when it can, else a generation of
    // the policies in force.
    void containersChanged(const InventoryDiff& diff);

    // The policy names behind an epid of this or the previous generation
    // (nullptr: not known; empty: the container is unmatched).
    const std::vector<std::string>* policiesOf(uint32_t epid) const;
    // The text of a toFQDNs selector id ("api.stripe.com", "*.s3.amazonaws.com") of any
    // generation this agent compiled (nullptr: not known).
    const std::string* fqdnNameOf(uint64_t selector) const;
    const std::map<uint64_t, std::string>& fqdnNames() const { return fqdnNames_; }
    size_t fqdnSelectorsInForce() const { return fqdnSelectorsInForce_; }
    // Whether the container of that cgroup has its pal_cgroups entry (its policy
    // set's, or the unmatched default's) in the kernel.
    bool inForce(uint64_t cgroupId) const { return epidByCgroup_.contains(cgroupId); }
    // The policies of each known container, by cgroup id (empty: unmatched).
    std::map<uint64_t, std::vector<std::string>> policiesByCgroup() const;
    // The policy files of the generation in force.
    const PolicySet& policySet() const { return inForce_; }
    // Valid files of the store that are not in force (rejected or left out), and why.
    const std::map<std::string, std::string>& notInForce() const { return notInForce_; }

  private:
    // Why a set cannot be put in force.
    struct Refusal {
        std::string error;  // a compile error's is FILE:LINE:COL: message
        std::string file;   // the file a compile error points at, else ""
    };
    // `set` with the containers, as the next generation's entries, less the containers
    // pal_cgroups has no room for beside the generation in force; throws CompileError.
    MapEntries compileNext(const PolicySet& set) const;
    // Compiles `set` and puts it in force (nullopt), or says why not (nothing of it is
    // then in force).
    std::optional<Refusal> tryApply(const PolicySet& set);
    // Puts `set`, compiled as `entries` (compileNext), in force, or says why not.
    std::optional<Refusal> tryApply(const PolicySet& set, const MapEntries& entries);
    // Why `set` would not compile or fit in the maps beside the generation in force
    // (nothing is written).
    std::optional<Refusal> check(const PolicySet& set) const;
    // Drops the notInForce_ entries of files that are no longer in the store, or whose
    // version there is the one in force.
    void pruneNotInForce();
    // A policy-rejected event for `files`, and notInForce_ entries for those of them whose
    // version in the store is not the one in force.
    void reject(const std::vector<std::string>& files, const Refusal& why);
    // The policies that decide for containers: those in force.
    const std::vector<Policy>& governing() const { return *inForce_.policies; }
    // Whether a toContainers rule selects `c` (its arrival changes peer entries).
    bool isPeerTarget(const Container& c) const;
    // The fast path: true when every started container got an entry of a
    // policy set in force (and the stopped ones lost theirs).
    bool tryFastPath(const InventoryDiff& diff);
    // When some of the containers waiting for room fit now, a generation for them.
    void giveRoomToWaiting();
    // Deletes the entries of containers that stopped.
    void removeStopped(const std::vector<Container>& stopped);
    // A policy-rejected event and a log line for a container without an entry.
    void notEnforced(uint64_t cgroupId, const std::string& why);

    Datapath& datapath_;
    const PolicyStore& store_;
    const ContainerInventory& inventory_;
    const Config::Defaults& defaults_;
    EventPump& events_;
    uint64_t generation_;
    PolicySet inForce_;
    std::map<std::string, std::string> notInForce_;
    std::map<uint64_t, uint32_t> epidByCgroup_;
    // Containers pal_cgroups had no room for, each named once (notEnforced).
    std::set<uint64_t> waiting_;
    std::map<uint32_t, std::vector<std::string>> epidPolicies_;  // this and the last generation
    // Every toFQDNs selector compiled: learned addresses name them after they left the policies.
    std::map<uint64_t, std::string> fqdnNames_;
    size_t fqdnSelectorsInForce_ = 0;
};

}  // namespace palisade
