#include "daemon/agent.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <system_error>

#include "containers/cgroup_watch.h"
#include "containers/container.h"
#include "containers/netns_addresses.h"
#include "control/control_request.h"
#include "control/control_server.h"
#include "daemon/container_inventory.h"
#include "daemon/debounce.h"
#include "daemon/event_pump.h"
#include "daemon/generation_control.h"
#include "daemon/policy_store.h"
#include "daemon/status.h"
#include "daemon/timers.h"
#include "daemon/watchdog.h"
#include "datapath/datapath.h"
#include "datapath/features.h"
#include "datapath/host_netns.h"
#include "datapath/preflight.h"
#include "events/event_format.h"
#include "events/sinks.h"
#include "kubernetes/pod_source.h"
#include "metrics/agent_metrics.h"
#include "metrics/metrics_server.h"
#include "policy/policy_dir_watch.h"
#include "policy/signature.h"
#include "util/errno_text.h"
#include "util/fd.h"

namespace palisade {
namespace {

// Containers and policies are re-read this often, metadata included; inotify
// reports changes as they happen, the resync repairs anything it missed.
constexpr auto kResyncPeriod = std::chrono::seconds(10);
// A burst of policy file changes (an editor's save, a ConfigMap update, `cp`
// of many files) becomes one reload.
constexpr auto kPolicyQuiet = std::chrono::milliseconds(20);
constexpr auto kPolicyMaxDelay = std::chrono::milliseconds(100);
// Containers' addresses are re-read this often (docs/reference/enforcement.md#inter-container): a
// container's network is set up after its cgroup appears, and addresses change.
constexpr auto kAddressPeriod = std::chrono::seconds(1);
// The ring buffer wakes us only for batches (bpf/events.bpf.h); lone events are
// drained on this timer.
constexpr int kDrainMs = 100;
// Events held back by events.rateLimit are reported, and the metrics page
// rendered, this often.
constexpr auto kReportPeriod = std::chrono::seconds(1);
// How often the maps of DNS learning are swept (datapath/fqdn_maps.h): addresses long out
// of time (the programs ignore them already; this frees the containers' budgets), queries
// never answered, and the counts (docs/reference/enforcement.md#fqdn).
constexpr auto kFqdnSweepPeriod = std::chrono::seconds(5);
// At start, how long the first generation waits for the API server's first
// lists, so that a restart does not take pod labels away from the containers
// for a moment (docs/runtimes/kubernetes.md).
constexpr auto kFirstListWait = std::chrono::seconds(2);
// Reload latency histogram buckets (seconds); docs/reference/targets.md targets < 250 ms.
const std::vector<double> kReloadBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

// Events to `palisade events` subscribers.
class ControlSink : public EventSink {
  public:
    explicit ControlSink(ControlServer& server) : server_(server) {}
    void write(const Event& event) override { server_.publish(event); }
    void flush() override {}

  private:
    ControlServer& server_;
};

// Ties the modules together: start-up, the main loop and its timers, signals.
// The logic lives in the parts it owns: ContainerInventory (which containers),
// GenerationControl (what is in force), EventPump (what is said).
class Agent {
  public:
    explicit Agent(const Config& config)
        : config_(config),
          roots_{config.runtimes.dockerRoot, config.runtimes.containerdState,
                 config.runtimes.crioStorage, config.runtimes.podmanRoot},
          bus_(config.events.sinks),
          events_(bus_, clock_) {}

    int run();

  private:
    void start();
    void loop(int sigfd);
    bool handleSignal(int sigfd);  // false: stop
    bool refreshPolicies(bool atStart = false);
    // Rescans the cgroup tree (re-reading metadata only when asked); an
    // incomplete scan changes nothing (and is retried on the next loop pass).
    InventoryDiff refreshContainers(bool rereadMetadata);
    // Makes a scan's containers the inventory and publishes what started and stopped.
    InventoryDiff takeScan(std::vector<Container> found);
    // Rescans the cgroup tree and puts what changed in force: what a cgroup watch
    // notice and an await-container request both do.
    void containersNoticed();
    // The await-container request of `palisade oci-hook`.
    nlohmann::json awaitContainer(const ControlRequest& req);
    // Starts learning pods from the API server when kubernetes.* says so.
    void startKubernetes();
    // Joins the containers to what the API server said since the last time.
    void refreshKubernetes();
    // Learns every container's addresses and puts them in the kernel.
    void refreshAddresses();
    void rereadRuntimeRecords(const LearnedAddresses& learned);
    void sweepFqdn();
    // Re-reads the policies and applies them if they changed; the reload
    // latency is measured from `noticed`.
    void reloadPolicies(SteadyClock::time_point noticed);
    void resync();
    void refreshMetrics();
    StatusInputs statusInputs() const;
    // systemd's STATUS= (systemctl status): the generation in force and what it
    // holds, when that changed; `first` goes before it in the same message.
    void notifyStatus(const char* first = "");

    Config config_;
    RuntimeRoots roots_;
    EventBus bus_;
    Clock clock_;
    EventPump events_;
    Watchdog watchdog_ = Watchdog::fromEnvironment();
    std::string cgroupRoot_;
    nlohmann::json features_;
    std::unique_ptr<PolicyVerifier> verifier_;  // with signing.publicKeys
    PolicyStore store_;
    ContainerInventory inventory_;
    std::unique_ptr<Datapath> datapath_;
    std::unique_ptr<GenerationControl> generations_;  // once the datapath is loaded
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_;  // null when metrics.listen is ""
    std::unique_ptr<PodSource> pods_;         // with kubernetes on
    nlohmann::json kubernetesProblem_;        // on, but without what it needs: why
    uint64_t podsJoined_ = 0;                 // pods_->version() the inventory is joined with
    Histogram reloadSeconds_{kReloadBuckets};
    std::optional<SteadyClock::time_point> policyNoticed_;  // a change not yet applied
    std::unique_ptr<CgroupWatch> cgroupWatch_;
    std::unique_ptr<PolicyDirWatch> policyWatch_;
    Debounce policyDebounce_{kPolicyQuiet, kPolicyMaxDelay};
    AddressLearner addressLearner_;
    LearnedAddresses addresses_;
    FqdnSweep fqdn_;                // addresses learned from DNS, at the last sweep
    bool addressesSynced_ = false;  // the kernel's address maps hold addresses_.byContainer
    std::string addressProblem_;    // why they hold only part of it (full), or ""
    bool rescan_ = false;           // the last scan was incomplete
    std::string statusSent_;        // the last STATUS= text
};

bool Agent::refreshPolicies(bool atStart) {
    PolicyStore::Outcome outcome;
    try {
        outcome = store_.reload(config_.policyDir, verifier_.get());
    } catch (const SignedRecordError& e) {
        // The change is not recorded, so it is not in force: what is stays.
        // At start there is nothing in force to keep: fatal.
        if (atStart) throw;
        spdlog::error("policy change not applied, the policies in force stay: {}", e.what());
        events_.publish(events_.agentEvent("policy-rejected", {{"error", e.what()}}));
        return false;
    }
    for (const auto& d : outcome.errors) spdlog::warn("{}", d.str());
    for (const auto& file : outcome.rejected) {
        for (const auto& d : file.errors) {
            spdlog::error("policy rejected: {}", d.str());
            events_.publish(
                events_.agentEvent("policy-rejected", {{"file", file.path}, {"error", d.str()}}));
        }
    }
    for (const auto& path : outcome.removed) spdlog::info("policy file removed: {}", path);
    return outcome.changed();
}

InventoryDiff Agent::refreshContainers(bool rereadMetadata) {
    std::vector<Container> found;
    try {
        found = scanContainers(cgroupRoot_, roots_,
                               rereadMetadata ? std::vector<Container>{} : inventory_.containers());
    } catch (const std::system_error& e) {
        // Fail safe: an incomplete scan is not "these containers are gone";
        // what is in force stays, and the next pass of the loop tries again.
        if (!rescan_) {
            spdlog::warn("container scan incomplete, the {} containers known stay as they are: {}",
                         inventory_.containers().size(), e.what());
        }
        rescan_ = true;  // again on the next pass of the loop
        return {};
    }
    if (rescan_) spdlog::info("container scan complete again");
    rescan_ = false;
    return takeScan(std::move(found));
}

InventoryDiff Agent::takeScan(std::vector<Container> found) {
    if (pods_) {
        podsJoined_ = pods_->version();
        pods_->join(found);
    }
    InventoryDiff diff = inventory_.replace(std::move(found));
    for (const auto& c : diff.metadataUnreadable) {
        spdlog::warn(
            "container {} ({}): its metadata cannot be read ({}): policies select it by id and "
            "runtime only",
            c.id.substr(0, 12), c.runtime, c.metadataError);
    }
    for (const auto& c : diff.started) {
        events_.publish(events_.containerEvent("container-started", c));
    }
    for (const auto& c : diff.stopped) {
        events_.publish(events_.containerEvent("container-stopped", c));
    }
    return diff;
}

void Agent::containersNoticed() {
    const InventoryDiff diff = refreshContainers(false);
    if (diff.changed()) {
        generations_->containersChanged(diff);
        refreshAddresses();
    }
}

// The hook asks as soon as the cgroup exists, usually before inotify's notice is
// read: the tree is scanned now, through the same path as that notice (which then
// finds nothing new). The answer is sent once the container is in force.
nlohmann::json Agent::awaitContainer(const ControlRequest& req) {
    containersNoticed();
    const Container* c = inventory_.find(req.cgroupId);
    if (!c) {
        if (rescan_) throw std::runtime_error("the container scan is incomplete");
        return {{"status", "not-a-container"},
                {"reason", "cgroup " + std::to_string(req.cgroupId) +
                               " is not a container's below " + cgroupRoot_}};
    }
    if (!generations_->inForce(c->cgroupId)) {
        spdlog::error("oci-hook: container {}: its policy is not in force", c->id.substr(0, 12));
        throw std::runtime_error("container " + c->id +
                                 ": its policy set cannot be put in force (see the "
                                 "policy-rejected event)");
    }
    spdlog::debug("oci-hook: container {} ({}) in force", c->id.substr(0, 12), req.containerId);
    return {{"status", "enforced"},
            {"container", {{"id", c->id}, {"name", c->name}, {"runtime", c->runtime}}},
            {"policies", generations_->policiesByCgroup().at(c->cgroupId)},
            {"generation", generations_->generation()}};
}

void Agent::startKubernetes() {
    KubernetesSetup setup = resolveKubernetes(config_.kubernetes, [](const char* name) {
        const char* value = std::getenv(name);
        return std::string(value ? value : "");
    });
    if (!setup.enabled) return;
    if (!setup.server) {
        // Not fatal: the containers are enforced as on a host without an API server.
        spdlog::error("kubernetes: {}: pod labels and namespace labels stay unknown",
                      setup.problem);
        kubernetesProblem_ = {{"connected", false}, {"error", setup.problem}};
        return;
    }
    spdlog::info("kubernetes: watching the pods of node {} at https://{}:{}",
                 setup.server->nodeName, setup.server->host, setup.server->port);
    pods_ = std::make_unique<PodSource>(*setup.server);
    pods_->start();
    if (!pods_->waitListed(kFirstListWait)) {
        spdlog::warn(
            "kubernetes: the first lists are not done: starting without pod and namespace "
            "labels, which follow when the API server answers");
    }
}

void Agent::refreshKubernetes() {
    if (!pods_ || pods_->version() == podsJoined_) return;
    const InventoryDiff diff = takeScan(inventory_.containers());
    if (diff.changed()) generations_->containersChanged(diff);
}

// Docker (config.v2.json) and podman (its database's ContainerState) record the addresses
// they gave a container once it runs, after the agent first read the record: read again
// when the container's namespace is first learned, so that its record decides who owns
// its addresses from then on, not from the next resync.
void Agent::rereadRuntimeRecords(const LearnedAddresses& learned) {
    auto due = [&](const Container& c) {
        return (c.runtime == "docker" || c.runtime == "podman") && c.recordedAddresses.empty() &&
               learned.byContainer.count(c.cgroupId) && !addresses_.byContainer.count(c.cgroupId);
    };
    // Every pass: the inventory is copied only when a container is due.
    if (std::ranges::none_of(inventory_.containers(), due)) return;
    std::vector<Container> found = inventory_.containers();
    for (Container& c : found) {
        if (due(c)) rereadContainerMetadata(c, roots_);
    }
    const InventoryDiff diff = takeScan(std::move(found));
    if (diff.changed()) generations_->containersChanged(diff);
}

void Agent::refreshAddresses() {
    LearnedAddresses learned = addressLearner_.learn(inventory_.containers());
    rereadRuntimeRecords(learned);
    auto name = [&](uint64_t cgid) {
        const Container* c = inventory_.find(cgid);
        return c ? c->id.substr(0, 12) : std::to_string(cgid);
    };
    for (const auto& [cgid, why] : learned.unreadable) {
        // What was known stays in force until it can be read again.
        if (auto before = addresses_.byContainer.find(cgid);
            before != addresses_.byContainer.end()) {
            learned.byContainer.insert(*before);
            if (auto ns = addresses_.netnsOf.find(cgid); ns != addresses_.netnsOf.end()) {
                learned.netnsOf.insert(*ns);
            }
        }
        if (!addresses_.unreadable.count(cgid)) {
            spdlog::warn(
                "container {}: its addresses cannot be read ({}): inter-container rules "
                "do not know them",
                name(cgid), why);
        }
    }
    resolveAddressOwners(learned, addresses_, recordedOwners(inventory_.containers()));
    for (const auto& [cgid, taken] : learned.conflicts) {
        for (const auto& [addr, owner] : taken) {
            auto before = addresses_.conflicts.find(cgid);
            if (before != addresses_.conflicts.end() && before->second.count(addr)) continue;
            spdlog::warn(
                "container {} holds {}, which is container {}'s: refused, the address stays "
                "{}'s",
                name(cgid), addr.str(), name(owner), name(owner));
        }
    }
    for (const auto& [cgid, count] : learned.tooMany) {
        if (addresses_.tooMany.count(cgid)) continue;
        spdlog::warn("container {} has {} addresses: only the first {} count", name(cgid), count,
                     kMaxNetnsAddresses);
    }
    for (const auto& [cgid, addrs] : learned.byContainer) {
        auto before = addresses_.byContainer.find(cgid);
        if (before != addresses_.byContainer.end() && before->second == addrs) continue;
        std::string text;
        for (const auto& a : addrs) text += " " + a.str();
        spdlog::info("container {} addresses:{}", name(cgid), text);
    }
    // The first time whatever was learned, so that addresses an earlier agent
    // pinned for containers gone since are removed even when none is learned.
    if (!addressesSynced_ || learned.byContainer != addresses_.byContainer ||
        learned.netnsOf != addresses_.netnsOf) {
        try {
            datapath_->setAddresses(learned.byContainer, podEndpoints(learned));
            addressProblem_.clear();
            addressesSynced_ = true;
        } catch (const DatapathError& e) {
            // What fits is written, and the next pass writes again; the rest is said
            // once, not every second.
            if (addressProblem_ != e.what()) {
                spdlog::error("inter-container rules do not know every address: {}", e.what());
            }
            addressProblem_ = e.what();
            addressesSynced_ = false;
        }
    }
    addresses_ = std::move(learned);
}

void Agent::reloadPolicies(SteadyClock::time_point noticed) {
    if (!refreshPolicies() || !generations_->applyNext()) return;
    reloadSeconds_.observe(std::chrono::duration<double>(SteadyClock::now() - noticed).count());
}

// What inotify missed: policies and containers read again, metadata included.
void Agent::resync() {
    const bool policies = refreshPolicies();
    const InventoryDiff containers = refreshContainers(true);
    if (policies) {
        generations_->applyNext();
    } else {
        generations_->containersChanged(containers);
    }
    addressLearner_.forgetNamespaces();
}

void Agent::sweepFqdn() {
    std::set<uint64_t> containers;
    for (const Container& c : inventory_.containers()) containers.insert(c.cgroupId);
    fqdn_ = datapath_->sweepFqdn(containers);
}

void Agent::refreshMetrics() {
    if (!metrics_) return;
    AgentMetrics m;
    m.counters = datapath_->counters();
    m.programs = datapath_->programs();
    m.bpfStatsEnabled = bpfStatsEnabled();
    m.eventsEmitted = events_.emitted();
    m.eventsSuppressed = events_.suppressed();
    m.subscriberDrops = control_ ? control_->droppedForSlowSubscribers() : 0;
    m.containers = inventory_.containers().size();
    m.containersUnaddressed = addresses_.unreadable.size();
    m.containersAddressConflicts = addresses_.conflicts.size();
    m.containersMetadataUnreadable = static_cast<uint64_t>(std::ranges::count_if(
        inventory_.containers(), [](const Container& c) { return !c.metadataError.empty(); }));
    m.policies = generations_->policySet().policies->size();
    m.generation = generations_->generation();
    for (const auto& [feature, have] : features_.items())
        m.kernelFeatures[feature] = have.get<bool>();
    m.reloadSeconds = &reloadSeconds_;
    if (pods_) m.kubernetes = pods_->counters();
    m.fqdnSelectors = generations_->fqdnSelectorsInForce();
    m.fqdnAddresses = fqdn_.live.size();
    metrics_->update(renderAgentMetrics(m));
}

StatusInputs Agent::statusInputs() const {
    StatusInputs in{config_,
                    cgroupRoot_,
                    features_,
                    generations_->generation(),
                    datapath_->programs(),
                    datapath_->counters(),
                    generations_->policySet(),
                    generations_->notInForce(),
                    inventory_.containers(),
                    generations_->policiesByCgroup(),
                    0,
                    addresses_};
    in.subscriberDrops = control_ ? control_->droppedForSlowSubscribers() : 0;
    in.addressProblem = addressProblem_;
    in.kubernetes = pods_ ? pods_->statusJson() : kubernetesProblem_;
    in.fqdn = &fqdn_;
    in.fqdnNames = &generations_->fqdnNames();
    return in;
}

void Agent::notifyStatus(const char* first) {
    std::string status =
        fmt::format("enforcing below {}: generation {}, {} policies, {} containers", cgroupRoot_,
                    generations_->generation(), generations_->policySet().policies->size(),
                    inventory_.containers().size());
    if (status == statusSent_) return;
    sd_notifyf(0, "%sSTATUS=%s", first, status.c_str());
    statusSent_ = std::move(status);
}

void Agent::start() {
    // Bound first, so that a taken or malformed address stops us before the
    // kernel is touched.
    if (!config_.metrics.listen.empty()) {
        metrics_ = std::make_unique<MetricsServer>(config_.metrics.listen);
    }
    if (!config_.signing.publicKeys.empty() || config_.signing.required) {
        verifier_ =
            std::make_unique<PolicyVerifier>(config_.signing.publicKeys, config_.signing.required);
    }
    if (config_.signing.required) {
        // Before the directory is read: what was in force before the stop is
        // what a file found rolled back or deleted is judged against.
        const Diagnostics left = store_.useRecord(SignedRecord(config_.signing.recordDir),
                                                  config_.policyDir, *verifier_);
        for (const auto& d : left) spdlog::warn("signing.recordDir: left out: {}", d.str());
    }
    Features features(std::make_unique<KernelProbe>());
    for (Feature f : kAllFeatures) features_[featureName(f)] = features.has(f);
    const std::optional<uint64_t> hostNetns = hostNetnsCookie();
    features_["hostNetnsCookie"] = hostNetns.has_value();
    const nlohmann::json fallbacks = kernelFallbacks(features_);
    for (const auto& [name, how] : fallbacks.items()) {
        spdlog::warn("kernel {}: fallback {}: {}", kernelRelease(), name, how.get<std::string>());
    }
    // Every kernel interface is checked before anything
    // is loaded, so a start that cannot complete attaches nothing.
    const PreflightReport pre = preflight({config_.cgroupRoot, config_.stateDir}, features);
    cgroupRoot_ = pre.cgroupRoot;
    // Loading the BPF objects (kernel BTF parsing, the verifier) and reading the
    // policies and containers are independent: done side by side, start to
    // enforcement takes the longer of the two, not their sum.
    auto open = [&](bool adoptPinned) {
        return openBpfDatapath({cgroupRoot_, config_.stateDir, config_.defaults.nat64Prefix,
                                features.has(Feature::BpfLsm), config_.events.perContainerPerSecond,
                                config_.events.burst, hostNetns.value_or(PAL_HOST_NETNS_INIT),
                                features.has(Feature::TracingAncestorCgroup),
                                features.has(Feature::SkbCurrentTask), pre.memlockLimit.value_or(0),
                                config_.limits, adoptPinned, config_.fqdn});
    };
    auto loading = std::async(std::launch::async, open, true);
    // Watching starts before the first scan, so nothing created in between is missed.
    cgroupWatch_ = std::make_unique<CgroupWatch>(cgroupRoot_);
    policyWatch_ = std::make_unique<PolicyDirWatch>(config_.policyDir);
    refreshPolicies(/*atStart=*/true);
    startKubernetes();
    // At start an incomplete scan is fatal: there is no inventory to keep, and
    // a generation without the containers it missed would replace the one an
    // earlier agent left in force. (Later, the inventory known stays.)
    takeScan(scanContainers(cgroupRoot_, roots_));
    datapath_ = loading.get();
    generations_ = std::make_unique<GenerationControl>(*datapath_, store_, inventory_,
                                                       config_.defaults, events_);
    if (datapath_->adopted()) {
        spdlog::info("adopted the maps pinned under {}: generation {} stays in force",
                     config_.stateDir, generations_->generation());
    }
    using Start = GenerationControl::Start;
    Start first = generations_->applyFirst(config_.limits.tooLargeAtStart);
    if (first == Start::NeedsEmptyMaps) {
        // Beside the generation an earlier agent left, the set does not fit; in new maps it
        // does. Nothing is attached yet: the programs switch to the new maps at attach().
        spdlog::warn(
            "the policy set does not fit the maps beside the generation pinned under "
            "{}: new maps take it (a reload of it needs room for two generations: "
            "raise limits)",
            config_.stateDir);
        generations_.reset();
        datapath_.reset();
        datapath_ = open(false);
        generations_ = std::make_unique<GenerationControl>(*datapath_, store_, inventory_,
                                                           config_.defaults, events_);
        first = generations_->applyFirst(config_.limits.tooLargeAtStart);
    }
    if (first != Start::InForce) throw DatapathError("the initial policy set cannot be applied");
    refreshAddresses();
    // Whatever can still fail comes before attach(): a start that fails leaves
    // no program attached that was not attached before.
    datapath_->openEvents([this](const void* data, size_t size) {
        events_.onRecord(data, size, inventory_, *generations_);
    });
    control_ = std::make_unique<ControlServer>(
        config_.controlSocket,
        // Each sweeps the learned DNS addresses first, so that their time left is now's.
        ControlServer::Handlers{[this] {
                                    sweepFqdn();
                                    return statusJson(statusInputs());
                                },
                                [this] {
                                    sweepFqdn();
                                    return containersJson(statusInputs());
                                },
                                [this](const ControlRequest& req) { return awaitContainer(req); }});
    bus_.add(std::make_unique<ControlSink>(*control_));
    datapath_->attach();
    // What adopted buckets hold was reported by the agent before us.
    events_.reportSuppressed(datapath_->suppressedEvents(), inventory_, true);
    if (metrics_) {
        refreshMetrics();
        spdlog::info("metrics at http://{}/metrics", config_.metrics.listen);
    }
}

bool Agent::handleSignal(int sigfd) {
    signalfd_siginfo si{};
    if (read(sigfd, &si, sizeof(si)) != sizeof(si)) return true;
    if (si.ssi_signo == SIGHUP) {
        spdlog::info("SIGHUP: re-reading policies");
        reloadPolicies(SteadyClock::now());
        return true;
    }
    spdlog::info(
        "stopping; enforcement stays in force (pinned under {}); `palisade cleanup` "
        "removes it",
        config_.stateDir);
    return false;
}

void Agent::loop(int sigfd) {
    const auto begin = SteadyClock::now();
    Periodic resyncTimer(kResyncPeriod, begin), addressTimer(kAddressPeriod, begin),
        reportTimer(kReportPeriod, begin), fqdnTimer(kFqdnSweepPeriod, begin);
    std::vector<pollfd> fds;
    for (;;) {
        fds = {{sigfd, POLLIN, 0},
               {datapath_->eventsPollFd(), POLLIN, 0},
               {cgroupWatch_->fd(), POLLIN, 0},
               {policyWatch_->fd(), POLLIN, 0}};
        control_->fillPollFds(fds);
        poll(fds.data(), fds.size(),
             pollTimeoutMs(SteadyClock::now(), {policyDebounce_.dueAt()}, kDrainMs));
        datapath_->consumeEvents();
        control_->handle(fds);
        if ((fds[0].revents & POLLIN) && !handleSignal(sigfd)) return;
        const auto now = SteadyClock::now();
        if (((fds[2].revents & POLLIN) && cgroupWatch_->drain()) || rescan_) {
            containersNoticed();
        }
        if (policyWatch_->drain()) {
            policyDebounce_.notice(now);
            if (!policyNoticed_) policyNoticed_ = now;
        }
        if (policyDebounce_.take(now)) {
            reloadPolicies(policyNoticed_.value_or(now));
            policyNoticed_.reset();
        }
        refreshKubernetes();
        if (resyncTimer.due(now)) resync();
        if (addressTimer.due(now)) refreshAddresses();
        if (fqdnTimer.due(now)) sweepFqdn();
        if (reportTimer.due(now)) {
            events_.reportSuppressed(datapath_->suppressedEvents(), inventory_);
            refreshMetrics();
        }
        events_.flush();
        notifyStatus();
        watchdog_.tick(SteadyClock::now());
        if (metrics_) metrics_->alive(SteadyClock::now());
    }
}

int Agent::run() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    const Fd sigfd(signalfd(-1, &mask, SFD_CLOEXEC));
    if (!sigfd) {
        spdlog::critical("signalfd: {}", errnoText(errno));
        return 2;
    }

    try {
        start();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
    nlohmann::json programs = nlohmann::json::array();
    for (const auto& p : datapath_->programs()) {
        programs.push_back({{"name", p.name}, {"hook", p.hook}, {"id", p.id}});
    }
    events_.publish(
        events_.agentEvent("agent-ready", {{"cgroupRoot", cgroupRoot_},
                                           {"generation", generations_->generation()},
                                           {"programs", programs},
                                           {"containers", inventory_.containers().size()}}));
    events_.flush();
    notifyStatus("READY=1\n");
    spdlog::info("enforcing below {} ({} programs attached)", cgroupRoot_, programs.size());

    int rc = 0;
    try {
        loop(sigfd.get());
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        rc = 2;
    }
    sd_notifyf(0, "STOPPING=1\nSTATUS=stopped; enforcement stays in force (pinned under %s)",
               config_.stateDir.c_str());
    events_.flush();
    return rc;
}

}  // namespace

int runAgent(const Config& config) {
    try {
        Agent agent(config);
        return agent.run();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
}

}  // namespace palisade
