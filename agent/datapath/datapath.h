// The agent's only view of the kernel side: a narrow interface over the BPF
// skeleton (bpf_datapath.cpp), so the rest of the agent can be tested with a fake.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "containers/netns_addresses.h"
#include "datapath/fqdn_maps.h"

namespace palisade {

struct VerdictCounters {
    std::array<std::array<uint64_t, PAL_VERDICT_MAX>, PAL_HOOK_MAX> byHook{};  // all reasons
    std::array<std::array<std::array<uint64_t, PAL_REASON_MAX>, PAL_VERDICT_MAX>, PAL_HOOK_MAX>
        byReason{};
    uint64_t ringbufDrops = 0;
    // DNS answers (docs/reference/enforcement.md#fqdn): that taught, that taught nothing, the
    // addresses learned and refused (budget or map full), and queries not noted (the
    // container had PAL_DNS_MAX_PENDING waiting).
    uint64_t dnsAnswers = 0;
    uint64_t dnsIgnored = 0;
    uint64_t dnsLearned = 0;
    uint64_t dnsRefused = 0;
    uint64_t dnsUnnoted = 0;
};

struct AttachedProgram {
    std::string name;  // e.g. pal_connect4
    std::string hook;  // e.g. cgroup/connect4
    uint32_t id = 0;   // kernel program id
    // bpf_prog_info run_cnt / run_time_ns: the kernel counts them only while
    // BPF statistics are on (kernel.bpf_stats_enabled), else they stay 0.
    uint64_t runCount = 0;
    uint64_t runTimeNs = 0;
};

class Datapath {
  public:
    // One record of the event ring buffer (a pal_*_event, include/palisade/abi.h).
    using RecordHandler = std::function<void(const void* data, size_t size)>;

    virtual ~Datapath() = default;

    // Whether the maps of a previous agent were adopted (restart).
    virtual bool adopted() const = 0;
    // The generation in force in the maps (0: none yet).
    virtual uint64_t generation() const = 0;
    // Attaches every program; call it once the first generation is applied.
    virtual void attach() = 0;

    // Makes `next` the generation in force, make-before-break
    // (docs/reference/enforcement.md#reload): its entries are written beside the current
    // generation's, one update switches every container at once, and the old entries go after a
    // grace period. `next` must have been compiled with generationIdBase(generation).
    virtual void apply(const MapEntries& next, uint64_t generation) = 0;
    // Deletes the generation apply() replaced (after an RCU grace period).
    virtual void retire() = 0;
    // Why `next` would not fit in the maps beside the generation in force (or, with
    // `besideInForce` false, in empty maps), naming each map and the numbers (what apply()
    // would throw as a CapacityError); "" when it fits.
    virtual std::string capacityProblem(const MapEntries& next, bool besideInForce) const = 0;
    // The containers of `next` that pal_cgroups has no room for beside the generation in
    // force: of those not in force, the newest cgroups (highest ids) beyond the room. Those in
    // force always keep their entries.
    virtual std::vector<uint64_t> containersBeyondRoom(const MapEntries& next) const = 0;
    // Containers coming and going between generations (see MapWriter).
    virtual void setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry) = 0;
    virtual void removeContainer(uint64_t cgroupId) = 0;
    // Which container owns which address (docs/reference/enforcement.md#inter-container), exactly
    // as given, and the endpoint of each container that shares its network namespace with older
    // ones (a pod: cgroup id -> the oldest's), which its addresses map to; returns the number of
    // map entries changed. When a map is full, what fits is written and a CapacityError says how
    // many entries are left out.
    virtual int setAddresses(const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                             const std::map<uint64_t, uint64_t>& endpoints) = 0;
    virtual VerdictCounters counters() const = 0;
    virtual std::vector<AttachedProgram> programs() const = 0;
    // Events the kernel held back (events.rateLimit) per bucket: a container's
    // cgroup id for its network events, the id | PAL_RATELIMIT_SECURITY for
    // its security events; counted since the bucket was created (monotonic
    // while it exists).
    virtual std::map<uint64_t, uint64_t> suppressedEvents() const = 0;
    // The addresses learned from DNS (docs/reference/enforcement.md#fqdn), after deleting those
    // whose time ran out and those of containers not in `containers`.
    virtual FqdnSweep sweepFqdn(const std::set<uint64_t>& containers) = 0;

    // Kernel events: opens the ring buffer; consumeEvents() hands every record
    // waiting in it to `handler`, and eventsPollFd() is readable when records wait.
    virtual void openEvents(RecordHandler handler) = 0;
    virtual int eventsPollFd() const = 0;
    virtual void consumeEvents() = 0;
};

// The kernel refused something; what() says what and where, with the errno text.
class DatapathError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A generation needs more map entries than the maps have room for beside the
// generation in force.
class CapacityError : public DatapathError {
  public:
    using DatapathError::DatapathError;
};

struct DatapathOptions {
    std::string cgroupRoot;        // programs attach here
    std::string stateDir;          // bpffs directory for pins
    Cidr nat64Prefix;              // /96
    bool bpfLsm = false;           // Feature::BpfLsm: exec policy through BPF LSM, else the
                                   // tp_btf/sched_process_exec fallback (SIGKILL)
    uint32_t eventsPerSecond = 0;  // events.rateLimit per container; 0: no limit
    uint32_t eventBurst = 0;
    uint64_t hostNetnsCookie = 0;  // datapath/host_netns.h, or PAL_HOST_NETNS_INIT; 0: loopback
                                   // exempt everywhere
    bool tracingAncestorCgroup = true;  // Feature::TracingAncestorCgroup: else a CO-RE walk
    bool skbCurrentTask = false;        // Feature::SkbCurrentTask: packet events name the task
    uint64_t memlockLimit = 0;          // nonzero: the kernel charges maps to this RLIMIT_MEMLOCK
    Config::Limits limits;              // the maps' max_entries
    bool adoptPinned = true;            // false: new maps even where pinned ones would do
    Config::Fqdn fqdn;                  // TTL bounds and budget of addresses learned from DNS
};

class BpfDatapath;

// Loads the programs and pins the maps, adopting the maps a previous agent
// pinned under stateDir when their layout matches
// (docs/reference/state-and-lifecycle.md#stop-and-restart): the generation they hold stays in
// force. Nothing is attached until BpfDatapath::attach(). Pinned objects outlive the agent:
// enforcement stays in force while it is down; removeState() takes them away.
std::unique_ptr<BpfDatapath> openBpfDatapath(const DatapathOptions& options);

// Unpins everything under stateDir that palisade created (links detach when
// their last pin goes). Returns the number of objects removed.
int removeState(const std::string& stateDir);

class BpfDatapath : public Datapath {
  public:
    ~BpfDatapath() override;
    // Attaches every program (cgroup programs at cgroupRoot, alongside any other
    // programs) and pins the links. A link pinned by a previous agent is updated
    // in place, so a restart never leaves a hook empty or attached twice.
    void attach() override;
    bool adopted() const override;
    uint64_t generation() const override;
    void apply(const MapEntries& next, uint64_t generation) override;
    void retire() override;
    std::string capacityProblem(const MapEntries& next, bool besideInForce) const override;
    std::vector<uint64_t> containersBeyondRoom(const MapEntries& next) const override;
    void setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry) override;
    void removeContainer(uint64_t cgroupId) override;
    int setAddresses(const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                     const std::map<uint64_t, uint64_t>& endpoints) override;
    VerdictCounters counters() const override;
    // With run counts and times read from the kernel now.
    std::vector<AttachedProgram> programs() const override;
    std::map<uint64_t, uint64_t> suppressedEvents() const override;
    FqdnSweep sweepFqdn(const std::set<uint64_t>& containers) override;
    void openEvents(RecordHandler handler) override;
    int eventsPollFd() const override;
    void consumeEvents() override;

  private:
    friend std::unique_ptr<BpfDatapath> openBpfDatapath(const DatapathOptions&);
    struct Impl;
    explicit BpfDatapath(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace palisade
