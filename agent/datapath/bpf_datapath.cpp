// The one module that touches the BPF skeleton.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <string_view>
#include <thread>

#include "datapath/address_maps.h"
#include "datapath/datapath.h"
#include "datapath/hooks.h"
#include "datapath/lsm_programs.h"
#include "datapath/map_writer.h"
#include "datapath/pin_stage.h"
#include "datapath/preflight.h"
#include "palisade_bpf.skel.h"
#include "util/bpf_handles.h"
#include "util/errno_text.h"
#include "util/fd.h"

namespace fs = std::filesystem;

namespace palisade {

void SkeletonDestroy::operator()(palisade_bpf* skel) const noexcept { palisade_bpf__destroy(skel); }

namespace {

[[noreturn]] void fail(const std::string& what, int err) {
    throw DatapathError(what + ": " + errnoText(err));
}

bool isBpffs(const std::string& path) {
    struct statfs st {};
    return statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// Pins need bpffs. Mount it at /sys/fs/bpf when the state dir lives there and
// nothing is mounted yet (as systemd and Cilium do); anywhere else it is the
// operator's job, and we say so.
void ensureStateDir(const std::string& stateDir) {
    const std::string bpffsRoot = "/sys/fs/bpf";
    fs::path parent = fs::path(stateDir).parent_path();
    if (!isBpffs(parent.string()) && !isBpffs(stateDir)) {
        if (stateDir.rfind(bpffsRoot + "/", 0) != 0) {
            throw DatapathError("stateDir " + stateDir +
                                " is not on a bpf filesystem (mount -t bpf bpf <dir>)");
        }
        if (mount("bpf", bpffsRoot.c_str(), "bpf", 0, "mode=0700") != 0) {
            fail("mount bpffs at " + bpffsRoot, errno);
        }
        spdlog::info("mounted bpffs at {}", bpffsRoot);
    }
    std::error_code ec;
    fs::create_directories(fs::path(stateDir) / "maps", ec);
    fs::create_directories(fs::path(stateDir) / "links", ec);
    if (ec) throw DatapathError("create " + stateDir + ": " + ec.message());
}

// Replaces whatever an earlier agent pinned at `path`.
template <typename Pin>
void repin(const fs::path& path, Pin pin) {
    std::error_code ec;
    fs::remove(path, ec);
    int err = pin(path.string().c_str());
    if (err) fail("pin " + path.string(), err);
}

// How a pinned map differs from what this build and configuration want ("" when it is the same).
std::string difference(bpf_map* map, int pinnedFd) {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(pinnedFd, &info, &len) != 0) return "cannot be read";
    if (info.max_entries != bpf_map__max_entries(map)) {
        return "holds " + std::to_string(info.max_entries) + " entries, this build and its " +
               "limits want " + std::to_string(bpf_map__max_entries(map));
    }
    if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
        info.value_size != bpf_map__value_size(map) || info.map_flags != bpf_map__map_flags(map)) {
        return "has another layout";
    }
    return "";
}

// The maps' sizes from the configuration (docs/reference/configuration.md#limits), before load.
void setMapSizes(palisade_bpf& skel, const Config::Limits& limits) {
    auto size = [](bpf_map* map, uint32_t entries) {
        if (int err = bpf_map__set_max_entries(map, entries)) {
            fail(std::string("size map ") + bpf_map__name(map), err);
        }
    };
    for (bpf_map* m :
         {skel.maps.pal_lpm4, skel.maps.pal_lpm6, skel.maps.pal_hosts4, skel.maps.pal_hosts6}) {
        size(m, limits.prefixes);
    }
    size(skel.maps.pal_classes, limits.classes);
    size(skel.maps.pal_cgroups, limits.containers);
    size(skel.maps.pal_endpoints, limits.containers);
    size(skel.maps.pal_ratelimit, limits.containers);
    size(skel.maps.pal_portsets, limits.portSets);
    size(skel.maps.pal_addr4, limits.addresses);
    size(skel.maps.pal_addr6, limits.addresses);
    size(skel.maps.pal_peers, limits.peers);
    size(skel.maps.pal_fqdn_names, limits.fqdnNames);
    size(skel.maps.pal_fqdn_addrs, limits.fqdnAddresses);
    size(skel.maps.pal_dns_queries, limits.dnsQueries);
    size(skel.maps.pal_fqdn_use, limits.containers);
}

// Makes the skeleton use the maps a previous agent pinned, when every one of
// them is there and has the layout this build expects; otherwise (first start,
// or an upgrade that changed a layout) the maps start empty and nothing pinned
// is reused. Returns whether the maps were adopted.
bool adoptPinnedMaps(bpf_object* obj, const fs::path& mapsDir) {
    std::vector<std::pair<bpf_map*, Fd>> found;  // bpf_map__reuse_fd holds its own duplicate
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
        if (bpf_map__is_internal(map)) continue;
        Fd fd(bpf_obj_get((mapsDir / bpf_map__name(map)).c_str()));
        if (!fd) {
            // An earlier agent's pins without this one: an upgrade that added a map.
            std::error_code ec;
            if (fs::exists(mapsDir, ec) && !fs::is_empty(mapsDir, ec)) {
                spdlog::warn("pinned map {} is missing: the maps start empty", bpf_map__name(map));
            }
            return false;
        }
        if (std::string why = difference(map, fd.get()); !why.empty()) {
            spdlog::warn("pinned map {} {}: the maps start empty", bpf_map__name(map), why);
            return false;
        }
        found.emplace_back(map, std::move(fd));
    }
    for (auto& [m, fd] : found) {
        if (int err = bpf_map__reuse_fd(m, fd.get())) {
            fail(std::string("reuse pinned map ") + bpf_map__name(m), err);
        }
    }
    return true;
}

uint64_t cgroupIdOfLink(int linkFd) {
    bpf_link_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(linkFd, &info, &len) != 0) return 0;
    return info.type == BPF_LINK_TYPE_CGROUP ? info.cgroup.cgroup_id : 0;
}

}  // namespace

struct BpfDatapath::Impl {
    // Destroyed in reverse order: the ring buffer, the links (our references
    // only: the pins keep the programs attached), then the skeleton.
    DatapathOptions options;
    PalisadeBpfPtr skel;
    bool adopted = false;
    std::vector<LinkPtr> links;
    std::vector<AttachedProgram> attached;
    std::vector<int> attachedFds;  // program fds (the skeleton's), as `attached`
    std::unique_ptr<MapWriter> writer;
    RecordHandler onRecord;
    RingBufferPtr events;  // calls onRecord

    int fd(bpf_map* m) const { return bpf_map__fd(m); }

    // Puts `prog` in force at its hook. A link a previous agent pinned for the
    // same program and cgroup is updated in place, atomically (no moment with
    // no program, no second attachment); otherwise a new link is created and
    // staged, to be pinned over the old one when every program is attached
    // (PinStage), so the old program runs until the new one is attached.
    LinkPtr attach(bpf_program* prog, int cgroupFd, uint64_t cgroupId, PinStage& pins) {
        const bool cgroupHook = bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SKB ||
                                bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK ||
                                bpf_program__type(prog) == BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
        const std::string name = bpf_program__name(prog);
        const fs::path pin = pins.finalPath(name);
        std::error_code ec;
        LinkPtr old(fs::exists(pin, ec) ? bpf_link__open(pin.c_str()) : nullptr);
        if (old && cgroupHook && cgroupIdOfLink(bpf_link__fd(old.get())) == cgroupId &&
            bpf_link__update_program(old.get(), prog) == 0) {
            pins.keep(name);
            return old;
        }
        old.reset();  // our reference only: its pin keeps it in force for now
        LinkPtr link(cgroupHook ? bpf_program__attach_cgroup(prog, cgroupFd)
                                : bpf_program__attach(prog));
        if (!link) {
            const int err = errno;
            fail("attach " + name + (cgroupHook ? " to " + options.cgroupRoot : std::string()),
                 err);
        }
        pins.stage(name, [&](const char* p) { return bpf_link__pin(link.get(), p); });
        return link;
    }
};

BpfDatapath::BpfDatapath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpfDatapath::~BpfDatapath() = default;

std::unique_ptr<BpfDatapath> openBpfDatapath(const DatapathOptions& options) {
    ensureStateDir(options.stateDir);
    const fs::path state(options.stateDir);
    auto impl = std::make_unique<BpfDatapath::Impl>();
    impl->options = options;
    impl->skel.reset(palisade_bpf__open());
    if (!impl->skel) fail("open BPF object palisade", errno);
    setMapSizes(*impl->skel, options.limits);
    impl->adopted = options.adoptPinned && adoptPinnedMaps(impl->skel->obj, state / "maps");
    impl->skel->rodata->pal_skb_has_current = options.skbCurrentTask;
    impl->skel->rodata->pal_tracing_has_ancestor = options.tracingAncestorCgroup;
    const RefusalMechanism refusal =
        options.bpfLsm ? RefusalMechanism::Lsm : RefusalMechanism::Tracepoint;
    selectRefusalPrograms(impl->skel->obj, refusal);
    if (int err = palisade_bpf__load(impl->skel.get())) {
        const std::string what = std::string("load BPF programs (exec policy through ") +
                                 execMechanismHook(refusal) + ")";
        if (std::abs(err) == EPERM && options.memlockLimit) {
            throw DatapathError(what + ": " + errnoText(err) + ": " +
                                memlockProblem(options.memlockLimit) + " (fix: " + kMemlockFix +
                                ")");
        }
        fail(what, err);
    }
    const bool lsm = refusal == RefusalMechanism::Lsm;
    spdlog::info("exec policy through {}: a refused exec {}", execMechanismHook(refusal),
                 lsm ? "fails with EPERM" : "is killed (SIGKILL) before the new image runs");
    spdlog::info("packet sockets through {}: a refused socket {}",
                 packetSocketMechanismHook(refusal),
                 lsm ? "fails with EPERM" : "is made and its task killed (SIGKILL) as it returns");

    pal_config config{};
    config.nat64_prefixlen = options.nat64Prefix.prefixLen;
    std::memcpy(config.nat64_prefix, options.nat64Prefix.addr.data(), 16);
    config.host_netns_cookie = options.hostNetnsCookie;
    config.fqdn_min_ttl = options.fqdn.minTTL;
    config.fqdn_max_ttl = options.fqdn.maxTTL;
    config.fqdn_budget = options.fqdn.perContainerAddresses;
    config.fqdn_events = options.fqdn.learnedEvents;
    if (options.eventsPerSecond > 0 && options.eventsPerSecond <= 1'000'000'000) {
        config.event_interval_ns = 1'000'000'000 / options.eventsPerSecond;
        config.event_burst_ns = config.event_interval_ns * std::max(options.eventBurst, 1u);
    }
    const PolicyMapFds fds = policyMapFds(impl->skel->maps);
    impl->writer = impl->adopted ? std::make_unique<MapWriter>(fds, config, MapWriter::Adopt{})
                                 : std::make_unique<MapWriter>(fds, config);
    if (!impl->adopted) {
        // Pins of an earlier build's maps (an upgrade) go; this build's replace them.
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(state / "maps", ec)) fs::remove(entry, ec);
        bpf_map* map;
        bpf_object__for_each_map(map, impl->skel->obj) {
            if (bpf_map__is_internal(map)) continue;
            repin(state / "maps" / bpf_map__name(map),
                  [&](const char* p) { return bpf_map__pin(map, p); });
        }
    }
    return std::unique_ptr<BpfDatapath>(new BpfDatapath(std::move(impl)));
}

void BpfDatapath::attach() {
    auto& impl = *impl_;
    const Fd cg(open(impl.options.cgroupRoot.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!cg) fail("open cgroupRoot " + impl.options.cgroupRoot, errno);
    struct stat st {};
    fstat(cg.get(), &st);  // a cgroup's id is its inode number
    // All or nothing: when attaching or pinning a program fails, this run's new
    // links are destroyed on the way out (they are ours alone: their pins are
    // only staged) and `pins` removes the staged pins, so an agent that fails
    // to start leaves no half set of programs behind it, and the pins of the
    // agent before (their links in force) stay as they were. A previous
    // agent's link that was updated in place stays too, running this build's
    // program, as an upgrade that succeeded would leave it.
    PinStage pins(fs::path(impl.options.stateDir) / "links");
    std::vector<LinkPtr> links;
    std::vector<AttachedProgram> attached;
    std::vector<int> attachedFds;
    bpf_program* prog;
    bpf_object__for_each_program(prog, impl.skel->obj) {
        if (!bpf_program__autoload(prog)) continue;  // another exec mechanism's
        // Cgroup programs act below cgroupRoot only; the tracepoints and the
        // LSM hook are node-wide and act on container tasks only (they check
        // pal_cgroups first).
        links.push_back(impl.attach(prog, cg.get(), st.st_ino, pins));
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len);
        attached.push_back({bpf_program__name(prog), bpf_program__section_name(prog), info.id});
        attachedFds.push_back(bpf_program__fd(prog));
    }
    // The old pins go now, each as its successor takes its place.
    pins.commit();
    std::move(links.begin(), links.end(), std::back_inserter(impl.links));
    impl.attached.insert(impl.attached.end(), attached.begin(), attached.end());
    impl.attachedFds.insert(impl.attachedFds.end(), attachedFds.begin(), attachedFds.end());
}

bool BpfDatapath::adopted() const { return impl_->adopted; }

uint64_t BpfDatapath::generation() const { return impl_->writer->generation(); }

void BpfDatapath::apply(const MapEntries& next, uint64_t generation) {
    impl_->writer->apply(next, generation);
}

void BpfDatapath::retire() { impl_->writer->retire(); }

std::string BpfDatapath::capacityProblem(const MapEntries& next, bool besideInForce) const {
    return impl_->writer->capacityProblem(next, besideInForce);
}

std::vector<uint64_t> BpfDatapath::containersBeyondRoom(const MapEntries& next) const {
    return impl_->writer->containersBeyondRoom(next);
}

void BpfDatapath::setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry) {
    impl_->writer->setContainer(cgroupId, entry);
}

void BpfDatapath::removeContainer(uint64_t cgroupId) { impl_->writer->removeContainer(cgroupId); }

int BpfDatapath::setAddresses(const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                              const std::map<uint64_t, uint64_t>& endpoints) {
    return syncAddressMaps(
        {impl_->fd(impl_->skel->maps.pal_addr4), impl_->fd(impl_->skel->maps.pal_addr6),
         impl_->fd(impl_->skel->maps.pal_endpoints)},
        byContainer, endpoints);
}

VerdictCounters BpfDatapath::counters() const {
    VerdictCounters out;
    const int ncpu = libbpf_num_possible_cpus();
    std::vector<uint64_t> perCpu(ncpu > 0 ? ncpu : 1);
    const int fd = impl_->fd(impl_->skel->maps.pal_counters);
    auto sum = [&](uint32_t slot) {
        uint64_t total = 0;
        if (bpf_map_lookup_elem(fd, &slot, perCpu.data()) == 0) {
            for (uint64_t v : perCpu) total += v;
        }
        return total;
    };
    for (uint32_t h = 0; h < PAL_HOOK_MAX; h++) {
        for (uint32_t v = 0; v < PAL_VERDICT_MAX; v++) {
            for (uint32_t r = 0; r < PAL_REASON_MAX; r++) {
                out.byReason[h][v][r] = sum(PAL_COUNTER_VERDICT(h, v, r));
                out.byHook[h][v] += out.byReason[h][v][r];
            }
        }
    }
    out.ringbufDrops = sum(PAL_COUNTER_RINGBUF_DROPS);
    out.dnsAnswers = sum(PAL_COUNTER_DNS_ANSWERS);
    out.dnsIgnored = sum(PAL_COUNTER_DNS_IGNORED);
    out.dnsLearned = sum(PAL_COUNTER_DNS_LEARNED);
    out.dnsRefused = sum(PAL_COUNTER_DNS_REFUSED);
    out.dnsUnnoted = sum(PAL_COUNTER_DNS_UNNOTED);
    return out;
}

std::vector<AttachedProgram> BpfDatapath::programs() const {
    std::vector<AttachedProgram> out = impl_->attached;
    for (size_t i = 0; i < out.size(); i++) {
        bpf_prog_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(impl_->attachedFds[i], &info, &len) == 0) {
            out[i].runCount = info.run_cnt;
            out[i].runTimeNs = info.run_time_ns;
        }
    }
    return out;
}

std::map<uint64_t, uint64_t> BpfDatapath::suppressedEvents() const {
    std::map<uint64_t, uint64_t> out;
    const int fd = impl_->fd(impl_->skel->maps.pal_ratelimit);
    uint64_t key = 0;
    uint64_t* prev = nullptr;
    pal_ratelimit bucket{};
    while (bpf_map_get_next_key(fd, prev, &key) == 0) {
        if (bpf_map_lookup_elem(fd, &key, &bucket) == 0 && bucket.suppressed > 0) {
            out[key] = bucket.suppressed;
        }
        prev = &key;
    }
    return out;
}

FqdnSweep BpfDatapath::sweepFqdn(const std::set<uint64_t>& containers) {
    return sweepFqdnAddresses(
        impl_->fd(impl_->skel->maps.pal_fqdn_addrs), impl_->fd(impl_->skel->maps.pal_fqdn_use),
        impl_->fd(impl_->skel->maps.pal_dns_queries), containers, bpfClockNs());
}

void BpfDatapath::openEvents(RecordHandler handler) {
    auto& impl = *impl_;
    impl.onRecord = std::move(handler);
    // No exception may cross libbpf's C frames: one record that fails is logged
    // and the others are still delivered.
    auto cb = [](void* ctx, void* data, size_t size) {
        try {
            static_cast<Impl*>(ctx)->onRecord(data, size);
        } catch (const std::exception& e) {
            spdlog::error("event record of {} bytes dropped: {}", size, e.what());
        }
        return 0;
    };
    impl.events.reset(ring_buffer__new(impl.fd(impl.skel->maps.pal_events), cb, &impl, nullptr));
    if (!impl.events) fail("open the event ring buffer", errno);
}

int BpfDatapath::eventsPollFd() const { return ring_buffer__epoll_fd(impl_->events.get()); }

void BpfDatapath::consumeEvents() { ring_buffer__consume(impl_->events.get()); }

std::vector<ObjectProgram> objectPrograms() {
    const PalisadeBpfPtr skel(palisade_bpf__open());
    if (!skel) fail("open BPF object palisade", errno);
    std::vector<ObjectProgram> out;
    bpf_program* prog;
    bpf_object__for_each_program(prog, skel->obj) {
        out.push_back({bpf_program__name(prog), bpf_program__section_name(prog)});
    }
    return out;
}

int removeState(const std::string& stateDir) {
    int removed = 0;
    std::error_code ec;
    std::vector<uint32_t> linkIds;
    for (const char* sub : {"links", "maps"}) {
        fs::path dir = fs::path(stateDir) / sub;
        if (!fs::is_directory(dir, ec)) continue;
        for (const auto& entry : fs::directory_iterator(dir, ec)) {
            if (std::string_view(sub) == "links") {
                if (const Fd link(bpf_obj_get(entry.path().c_str())); link) {
                    bpf_link_info info{};
                    uint32_t len = sizeof(info);
                    if (bpf_obj_get_info_by_fd(link.get(), &info, &len) == 0) {
                        linkIds.push_back(info.id);
                    }
                    bpf_link_detach(link.get());  // cgroup links: at once
                }
            }
            if (fs::remove(entry.path(), ec)) removed++;
        }
        fs::remove(dir, ec);
    }
    fs::remove(stateDir, ec);
    // Unpinning releases a link only once the kernel frees the pin's inode,
    // after an RCU grace period (tracing and LSM links have no detach): wait,
    // bounded, until every link is gone, so that enforcement is gone when
    // `palisade cleanup` returns.
    for (int i = 0; i < 200 && !linkIds.empty(); i++) {
        // ENOENT: gone. EPERM (no CAP_SYS_ADMIN to look links up): cannot wait.
        std::erase_if(linkIds, [](uint32_t id) { return !Fd(bpf_link_get_fd_by_id(id)); });
        if (!linkIds.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!linkIds.empty()) {
        spdlog::warn("{} link(s) still held by another process after 2 s (a running agent?)",
                     linkIds.size());
    }
    return removed;
}

}  // namespace palisade
