#include "daemon/agent.h"

#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <optional>
#include <set>

#include "compiler/compiler.h"
#include "containers/cgroup_watch.h"
#include "containers/container.h"
#include "containers/netns_addresses.h"
#include "control/control_server.h"
#include "daemon/debounce.h"
#include "daemon/policy_store.h"
#include "daemon/status.h"
#include "daemon/watchdog.h"
#include "datapath/datapath.h"
#include "datapath/features.h"
#include "events/event_format.h"
#include "events/sinks.h"
#include "metrics/agent_metrics.h"
#include "metrics/metrics_server.h"
#include "policy/policy_dir_watch.h"
#include "policy/signature.h"

namespace palisade {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Containers and policies are re-read this often, metadata included; inotify
// reports changes as they happen, the resync repairs anything it missed.
constexpr auto kResyncPeriod = std::chrono::seconds(10);
// A burst of policy file changes (an editor's save, a ConfigMap update, `cp`
// of many files) becomes one reload.
constexpr auto kPolicyQuiet = std::chrono::milliseconds(20);
constexpr auto kPolicyMaxDelay = std::chrono::milliseconds(100);
// Containers' addresses are re-read this often (SPEC §4.2): a container's
// network is set up after its cgroup appears, and addresses change.
constexpr auto kAddressPeriod = std::chrono::seconds(1);
// The ring buffer wakes us only for batches (bpf/events.bpf.h); lone events are
// drained on this timer.
constexpr int kDrainMs = 100;
// Events held back by events.rateLimit are reported, and the metrics page
// rendered, this often.
constexpr auto kReportPeriod = std::chrono::seconds(1);
// Reload latency histogram buckets (seconds); SPEC §8 targets < 250 ms.
const std::vector<double> kReloadBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};

std::string resolveCgroupRoot(const Config& config) {
    std::string root = config.cgroupRoot.empty() ? findCgroup2Mount() : config.cgroupRoot;
    if (root.empty()) throw DatapathError("no cgroup2 mount found in /proc/self/mountinfo");
    struct statfs st {};
    if (statfs(root.c_str(), &st) != 0 || st.f_type != CGROUP2_SUPER_MAGIC) {
        throw DatapathError("cgroupRoot " + root + " is not a cgroup v2 directory");
    }
    return root;
}

// Events to `palisade events` subscribers.
class ControlSink : public EventSink {
  public:
    explicit ControlSink(ControlServer& server) : server_(server) {}
    void write(const Event& event) override { server_.publish(event); }
    void flush() override {}

  private:
    ControlServer& server_;
};

class Agent {
  public:
    explicit Agent(const Config& config)
        : config_(config),
          roots_{config.runtimes.dockerRoot, config.runtimes.containerdState,
                 config.runtimes.crioStorage},
          bus_(config.events.sinks) {}

    int run();

  private:
    void start();
    void loop(int sigfd, ring_buffer* rb);
    bool handleSignal(int sigfd);  // false: stop
    bool refreshPolicies();
    // Rescans the cgroup tree (re-reading metadata only when asked); true when
    // the containers changed. Publishes container-started/-stopped.
    bool refreshContainers(bool rereadMetadata);
    // Puts changed containers in force: new containers whose policy set is in
    // force already just get their map entry, anything else is a generation.
    void containersChanged();
    // Learns every container's addresses and puts them in the kernel.
    void refreshAddresses();
    // Whether a toContainers rule selects `c` (its arrival changes peer entries).
    bool isPeerTarget(const Container& c) const;
    bool applyGeneration();
    // Re-reads the policies and applies them if they changed; the reload
    // latency is measured from `noticed`.
    void reloadPolicies(SteadyClock::time_point noticed);
    // events-suppressed for every container the kernel held events back for
    // since the last report.
    void reportSuppressed(bool baselineOnly = false);
    void refreshMetrics();
    void onRecord(const void* data, size_t size);
    void publish(const Event& event) {
        bus_.publish(event);
        eventsEmitted_++;
    }
    void publish(const nlohmann::json& event) { publish(Event::fromJson(event)); }
    nlohmann::json containerEvent(const std::string& action, const Container& c) const;
    StatusInputs statusInputs() const;

    Config config_;
    RuntimeRoots roots_;
    EventBus bus_;
    Clock clock_;
    Watchdog watchdog_ = Watchdog::fromEnvironment();
    std::string cgroupRoot_;
    nlohmann::json features_;
    std::unique_ptr<PolicyVerifier> verifier_;  // with signing.publicKeys
    PolicyStore store_;
    std::unique_ptr<BpfDatapath> datapath_;
    std::unique_ptr<ControlServer> control_;
    std::unique_ptr<MetricsServer> metrics_;  // null when metrics.listen is ""
    Histogram reloadSeconds_{kReloadBuckets};
    uint64_t eventsEmitted_ = 0;
    uint64_t eventsSuppressed_ = 0;
    std::map<uint64_t, uint64_t> suppressedSeen_;           // pal_ratelimit counts last reported
    std::optional<SteadyClock::time_point> policyNoticed_;  // a change not yet applied
    std::unique_ptr<CgroupWatch> cgroupWatch_;
    std::unique_ptr<PolicyDirWatch> policyWatch_;
    Debounce policyDebounce_{kPolicyQuiet, kPolicyMaxDelay};
    std::set<uint64_t> added_, removed_;  // since the last generation or fast-path update
    bool metadataChanged_ = false;
    AddressLearner addressLearner_;
    std::map<uint64_t, std::vector<IpAddress>> addresses_;  // by cgroup id
    std::vector<Container> containers_;
    std::map<uint64_t, size_t> containerByCgroup_;
    std::map<uint64_t, uint32_t> epidByCgroup_;
    std::map<uint32_t, std::vector<std::string>> epidPolicies_;  // this and the last generation
    uint64_t generation_ = 0;
};

nlohmann::json Agent::containerEvent(const std::string& action, const Container& c) const {
    auto j = agentEvent(action, clock_, {{"cgroup", c.cgroupPath}, {"cgroupId", c.cgroupId}});
    j["container"] = {{"id", c.id}, {"name", c.name}, {"runtime", c.runtime}};
    return j;
}

bool Agent::refreshPolicies() {
    auto outcome = store_.reload(config_.policyDir, verifier_.get());
    for (const auto& d : outcome.errors) spdlog::warn("{}", d.str());
    for (const auto& file : outcome.rejected) {
        for (const auto& d : file.errors) {
            spdlog::error("policy rejected: {}", d.str());
            publish(
                agentEvent("policy-rejected", clock_, {{"file", file.path}, {"error", d.str()}}));
        }
    }
    for (const auto& path : outcome.removed) spdlog::info("policy file removed: {}", path);
    return outcome.changed();
}

bool Agent::refreshContainers(bool rereadMetadata) {
    auto found = scanContainers(cgroupRoot_, roots_,
                                rereadMetadata ? std::vector<Container>{} : containers_);
    if (found == containers_) return false;
    std::set<uint64_t> before, after;
    for (const auto& c : containers_) before.insert(c.cgroupId);
    for (const auto& c : found) after.insert(c.cgroupId);
    for (const auto& c : found) {
        if (!before.count(c.cgroupId)) {
            publish(containerEvent("container-started", c));
            added_.insert(c.cgroupId);
            removed_.erase(c.cgroupId);
        }
    }
    for (const auto& c : containers_) {
        if (!after.count(c.cgroupId)) {
            publish(containerEvent("container-stopped", c));
            removed_.insert(c.cgroupId);
            added_.erase(c.cgroupId);
        }
    }
    if (before == after) metadataChanged_ = true;  // same containers, other names or labels
    containers_ = std::move(found);
    containerByCgroup_.clear();
    for (size_t i = 0; i < containers_.size(); i++) containerByCgroup_[containers_[i].cgroupId] = i;
    return true;
}

void Agent::containersChanged() {
    const uint32_t slot = generationIdBase(generation_);
    std::map<std::vector<std::string>, uint32_t> epidOf;  // policy sets in force
    for (const auto& [epid, names] : epidPolicies_) {
        if ((epid & generationIdBase(1)) == slot) epidOf[names] = epid;
    }
    bool fast = !metadataChanged_;
    std::vector<std::pair<uint64_t, MapEntries::ContainerEntry>> entries;
    for (uint64_t cgid : added_) {
        if (!fast) break;
        const size_t index = containerByCgroup_.at(cgid);
        std::vector<std::string> names;
        for (const auto& p : store_.policies()) {
            if (selectorMatches(p.selector, containers_[index])) names.push_back(p.name);
        }
        auto it = epidOf.find(names);
        fast = it != epidOf.end() && !isPeerTarget(containers_[index]);
        if (fast) entries.push_back({cgid, {it->second, static_cast<uint32_t>(index)}});
    }
    if (fast) {
        for (const auto& [cgid, entry] : entries) {
            datapath_->setContainer(cgid, entry);
            epidByCgroup_[cgid] = entry.epid;
        }
        for (uint64_t cgid : removed_) {
            datapath_->removeContainer(cgid);
            epidByCgroup_.erase(cgid);
        }
    } else {
        applyGeneration();
    }
    added_.clear();
    removed_.clear();
    metadataChanged_ = false;
}

bool Agent::isPeerTarget(const Container& c) const {
    for (const auto& p : store_.policies()) {
        for (const auto& rule : p.egress) {
            if (rule.toContainers && selectorMatches(*rule.toContainers, c)) return true;
        }
    }
    return false;
}

void Agent::refreshAddresses() {
    auto learned = addressLearner_.learn(containers_);
    if (learned == addresses_) return;
    for (const auto& [cgid, addrs] : learned) {
        auto before = addresses_.find(cgid);
        if (before != addresses_.end() && before->second == addrs) continue;
        std::string text;
        for (const auto& a : addrs) text += " " + a.str();
        spdlog::info("container {} addresses:{}",
                     containers_[containerByCgroup_.at(cgid)].id.substr(0, 12), text);
    }
    datapath_->setAddresses(learned);
    addresses_ = std::move(learned);
}

// Builds and switches to the next generation; on failure the one in force stays.
bool Agent::applyGeneration() {
    const uint64_t next = generation_ + 1;
    MapEntries entries;
    try {
        entries = compile(store_.policies(), containers_, config_.defaults, generationIdBase(next));
    } catch (const CompileError& e) {
        spdlog::error("policy set not applied, generation {} stays in force: {}", generation_,
                      e.what());
        publish(agentEvent("policy-rejected", clock_,
                           {{"file", e.diagnostic().where.file}, {"error", e.diagnostic().str()}}));
        return false;
    }
    datapath_->apply(entries, next);
    generation_ = next;
    added_.clear();
    removed_.clear();
    metadataChanged_ = false;
    std::erase_if(epidPolicies_, [&](const auto& kv) {
        return (kv.first & 0x80000000u) == generationIdBase(next);
    });
    epidPolicies_.insert(entries.epidPolicies.begin(), entries.epidPolicies.end());
    epidByCgroup_.clear();
    for (const auto& [cgid, e] : entries.cgroups) epidByCgroup_[cgid] = e.epid;
    for (const auto& [path, file] : store_.files()) {
        nlohmann::json names = nlohmann::json::array();
        for (const auto& p : file.policies) names.push_back(p.name);
        publish(agentEvent("policy-applied", clock_,
                           {{"generation", generation_},
                            {"file", path},
                            {"sha256", file.sha256},
                            {"policies", names}}));
    }
    spdlog::info("generation {} in force: {} policies, {} containers, {} IPv4 and {} IPv6 prefixes",
                 generation_, store_.policies().size(), containers_.size(), entries.lpm4.size(),
                 entries.lpm6.size());
    bus_.flush();         // "in force" is said as soon as it is true,
    datapath_->retire();  // then the old generation goes
    return true;
}

void Agent::reloadPolicies(SteadyClock::time_point noticed) {
    if (!refreshPolicies() || !applyGeneration()) return;
    reloadSeconds_.observe(std::chrono::duration<double>(SteadyClock::now() - noticed).count());
}

void Agent::reportSuppressed(bool baselineOnly) {
    auto totals = datapath_->suppressedEvents();
    for (const auto& [cgid, total] : totals) {
        auto seen = suppressedSeen_.find(cgid);
        // A bucket the LRU map evicted and created anew counts from 0 again.
        const uint64_t before =
            seen == suppressedSeen_.end() || seen->second > total ? 0 : seen->second;
        if (baselineOnly || total == before) continue;
        const uint64_t count = total - before;
        eventsSuppressed_ += count;
        auto it = containerByCgroup_.find(cgid);
        nlohmann::json event = it != containerByCgroup_.end()
                                   ? containerEvent("events-suppressed", containers_[it->second])
                                   : agentEvent("events-suppressed", clock_, {{"cgroupId", cgid}});
        event["palisade"]["count"] = count;
        publish(event);
    }
    suppressedSeen_ = std::move(totals);
}

void Agent::refreshMetrics() {
    if (!metrics_) return;
    AgentMetrics m;
    m.counters = datapath_->counters();
    m.programs = datapath_->programs();
    m.bpfStatsEnabled = bpfStatsEnabled();
    m.eventsEmitted = eventsEmitted_;
    m.eventsSuppressed = eventsSuppressed_;
    m.subscriberDrops = control_ ? control_->droppedForSlowSubscribers() : 0;
    m.containers = containers_.size();
    m.policies = store_.policies().size();
    m.generation = generation_;
    m.reloadSeconds = &reloadSeconds_;
    metrics_->update(renderAgentMetrics(m));
}

void Agent::onRecord(const void* data, size_t size) {
    if (size < sizeof(pal_event_header)) return;
    const auto* h = static_cast<const pal_event_header*>(data);
    EventContext ctx;
    if (auto it = containerByCgroup_.find(h->cgroup_id); it != containerByCgroup_.end()) {
        ctx.container = &containers_[it->second];
    }
    if (auto it = epidPolicies_.find(h->epid); it != epidPolicies_.end())
        ctx.policies = &it->second;
    if (h->type == PAL_EVENT_NET && size >= sizeof(pal_net_event)) {
        const uint64_t peer = static_cast<const pal_net_event*>(data)->peer_cgroup;
        if (auto it = containerByCgroup_.find(peer); peer && it != containerByCgroup_.end()) {
            ctx.peer = &containers_[it->second];
        }
    }
    if (std::string line = formatRecord(data, size, ctx, clock_); !line.empty()) {
        publish(Event(std::move(line)));
    }
}

StatusInputs Agent::statusInputs() const {
    StatusInputs in{config_,
                    cgroupRoot_,
                    features_,
                    generation_,
                    datapath_->programs(),
                    datapath_->counters(),
                    store_.files(),
                    containers_,
                    {},
                    0};
    for (const auto& c : containers_) {
        auto e = epidByCgroup_.find(c.cgroupId);
        auto p = e == epidByCgroup_.end() ? epidPolicies_.end() : epidPolicies_.find(e->second);
        in.policiesByCgroup[c.cgroupId] =
            p == epidPolicies_.end() ? std::vector<std::string>{} : p->second;
    }
    in.subscriberDrops = control_ ? control_->droppedForSlowSubscribers() : 0;
    return in;
}

void Agent::start() {
    cgroupRoot_ = resolveCgroupRoot(config_);
    // Bound first, so that a taken or malformed address stops us before the
    // kernel is touched.
    if (!config_.metrics.listen.empty()) {
        metrics_ = std::make_unique<MetricsServer>(config_.metrics.listen);
    }
    if (!config_.signing.publicKeys.empty() || config_.signing.required) {
        verifier_ =
            std::make_unique<PolicyVerifier>(config_.signing.publicKeys, config_.signing.required);
    }
    Features features(std::make_unique<KernelProbe>());
    for (Feature f : kAllFeatures) features_[featureName(f)] = features.has(f);
    auto missing = features.missingForEnforcement();
    if (!missing.empty()) {
        std::string names;
        for (auto f : missing) names += " " + featureName(f);
        throw DatapathError("this kernel lacks what enforcement needs:" + names);
    }
    // Loading the BPF objects (kernel BTF parsing, the verifier) and reading the
    // policies and containers are independent: done side by side, start to
    // enforcement takes the longer of the two, not their sum (SPEC §8).
    auto loading = std::async(std::launch::async, [&] {
        return openBpfDatapath({cgroupRoot_, config_.stateDir, config_.defaults.nat64Prefix,
                                features.has(Feature::BpfLsm), config_.events.perContainerPerSecond,
                                config_.events.burst});
    });
    // Watching starts before the first scan, so nothing created in between is missed.
    cgroupWatch_ = std::make_unique<CgroupWatch>(cgroupRoot_);
    policyWatch_ = std::make_unique<PolicyDirWatch>(config_.policyDir);
    refreshPolicies();
    refreshContainers(true);
    datapath_ = loading.get();
    generation_ = datapath_->generation();
    if (datapath_->adopted()) {
        spdlog::info("adopted the maps pinned under {}: generation {} stays in force",
                     config_.stateDir, generation_);
    }
    if (!applyGeneration()) throw DatapathError("the initial policy set cannot be applied");
    refreshAddresses();
    datapath_->attach();
    control_ = std::make_unique<ControlServer>(
        config_.controlSocket,
        ControlServer::Handlers{[this] { return statusJson(statusInputs()); },
                                [this] { return containersJson(statusInputs()); }});
    bus_.add(std::make_unique<ControlSink>(*control_));
    // What adopted buckets hold was reported by the agent before us.
    reportSuppressed(true);
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

void Agent::loop(int sigfd, ring_buffer* rb) {
    auto nextResync = SteadyClock::now() + kResyncPeriod;
    auto nextReport = SteadyClock::now() + kReportPeriod;
    auto nextAddresses = SteadyClock::now() + kAddressPeriod;
    std::vector<pollfd> fds;
    for (;;) {
        auto now = SteadyClock::now();
        int timeout = kDrainMs;
        if (auto due = policyDebounce_.dueAt()) {
            auto ms = std::chrono::ceil<std::chrono::milliseconds>(*due - now).count();
            timeout = static_cast<int>(std::clamp<int64_t>(ms, 0, kDrainMs));
        }
        fds = {{sigfd, POLLIN, 0},
               {ring_buffer__epoll_fd(rb), POLLIN, 0},
               {cgroupWatch_->fd(), POLLIN, 0},
               {policyWatch_->fd(), POLLIN, 0}};
        control_->fillPollFds(fds);
        poll(fds.data(), fds.size(), timeout);
        ring_buffer__consume(rb);
        control_->handle(fds);
        if ((fds[0].revents & POLLIN) && !handleSignal(sigfd)) return;
        now = SteadyClock::now();
        if ((fds[2].revents & POLLIN) && cgroupWatch_->drain() && refreshContainers(false)) {
            containersChanged();
            refreshAddresses();
        }
        if (policyWatch_->drain()) {
            policyDebounce_.notice(now);
            if (!policyNoticed_) policyNoticed_ = now;
        }
        if (policyDebounce_.take(now)) {
            reloadPolicies(policyNoticed_.value_or(now));
            policyNoticed_.reset();
        }
        if (now >= nextResync) {
            bool policies = refreshPolicies();
            bool containers = refreshContainers(true);
            if (policies) {
                applyGeneration();
            } else if (containers) {
                containersChanged();
            }
            addressLearner_.forgetNamespaces();
            nextResync = now + kResyncPeriod;
        }
        if (now >= nextAddresses) {
            refreshAddresses();
            nextAddresses = now + kAddressPeriod;
        }
        if (now >= nextReport) {
            reportSuppressed();
            refreshMetrics();
            nextReport = now + kReportPeriod;
        }
        bus_.flush();
        watchdog_.tick(SteadyClock::now());
        if (metrics_) metrics_->alive(SteadyClock::now());
    }
}

int Agent::run() {
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
    sigprocmask(SIG_BLOCK, &mask, nullptr);
    int sigfd = signalfd(-1, &mask, SFD_CLOEXEC);

    try {
        start();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        close(sigfd);
        return 2;
    }
    auto cb = [](void* self, void* data, size_t size) {
        static_cast<Agent*>(self)->onRecord(data, size);
        return 0;
    };
    ring_buffer* rb = ring_buffer__new(datapath_->eventsMapFd(), cb, this, nullptr);
    if (!rb) {
        spdlog::critical("open the event ring buffer: {}", strerror(errno));
        close(sigfd);
        return 2;
    }
    nlohmann::json programs = nlohmann::json::array();
    for (const auto& p : datapath_->programs()) {
        programs.push_back({{"name", p.name}, {"hook", p.hook}, {"id", p.id}});
    }
    publish(agentEvent("agent-ready", clock_,
                       {{"cgroupRoot", cgroupRoot_},
                        {"generation", generation_},
                        {"programs", programs},
                        {"containers", containers_.size()}}));
    bus_.flush();
    sd_notifyf(0, "READY=1\nSTATUS=enforcing below %s (%zu programs attached)", cgroupRoot_.c_str(),
               programs.size());
    spdlog::info("enforcing below {} ({} programs attached)", cgroupRoot_, programs.size());

    int rc = 0;
    try {
        loop(sigfd, rb);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        rc = 2;
    }
    sd_notifyf(0, "STOPPING=1\nSTATUS=stopped; enforcement stays in force (pinned under %s)",
               config_.stateDir.c_str());
    ring_buffer__free(rb);
    close(sigfd);
    bus_.flush();
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
