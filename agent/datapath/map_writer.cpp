#include "datapath/map_writer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>
#include <type_traits>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/map_keys.h"
#include "util/errno_text.h"

namespace palisade {
namespace {

template <typename K, typename V>
void update(int fd, const K& key, const V& value, const char* map) {
    if (bpf_map_update_elem(fd, &key, &value, BPF_ANY)) {
        throw DatapathError(std::string("update map ") + map + ": " + errnoText(errno));
    }
}

template <typename K>
void remove(int fd, const K& key) {
    bpf_map_delete_elem(fd, &key);  // already gone is fine
}

// Every (key, value) of `entries` in one BPF_MAP_UPDATE_BATCH: a syscall costs
// ~2 us here, so 100,000 single updates alone took ~200 ms of a 250 ms reload
// budget (docs/reference/targets.md); the batch takes ~90 ms. Kernels or map types without batch
// operations get single updates.
template <typename Entries>
void updateAll(int fd, const Entries& entries, const char* map) {
    using K = std::remove_const_t<typename Entries::value_type::first_type>;
    using V = typename Entries::value_type::second_type;
    std::vector<K> keys;
    std::vector<V> values;
    keys.reserve(entries.size());
    values.reserve(entries.size());
    for (const auto& [k, v] : entries) {
        keys.push_back(k);
        values.push_back(v);
    }
    auto count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = BPF_ANY);
    if (count == 0 || bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts) == 0) {
        return;
    }
    for (size_t i = 0; i < keys.size(); i++) update(fd, keys[i], values[i], map);
}

// The keys of `entries`, deleted in one BPF_MAP_DELETE_BATCH where possible.
// A batch stops at a key already gone; the single deletes then finish the job.
template <typename Entries>
void removeAll(int fd, const Entries& entries) {
    using K = std::remove_const_t<typename Entries::value_type::first_type>;
    std::vector<K> keys;
    keys.reserve(entries.size());
    for (const auto& [k, v] : entries) keys.push_back(k);
    auto count = static_cast<uint32_t>(keys.size());
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (count == 0 || bpf_map_delete_batch(fd, keys.data(), &count, &opts) == 0) return;
    for (const K& k : keys) remove(fd, k);
}

// A real RCU grace period: every BPF program that started before this call has
// finished, so nothing still reads the generation being retired.
void waitForGracePeriod() {
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
    // MEMBARRIER_CMD_GLOBAL is refused on nohz_full kernels; cgroup programs run
    // for microseconds, so a pause far longer than that retires them as well.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

// pal_fqdn_names entries: the selectors' keys -> ids.
std::vector<std::pair<pal_fqdn_name, uint64_t>> fqdnNameEntries(
    const std::map<uint64_t, MapEntries::FqdnName>& names) {
    std::vector<std::pair<pal_fqdn_name, uint64_t>> entries;
    entries.reserve(names.size());
    for (const auto& [id, name] : names) entries.emplace_back(name.key, id);
    return entries;
}

uint32_t slotBits(uint32_t id) { return id & generationIdBase(1); }

// Sorts the ids found in a map into the generation in force (kept in `current`
// for the next apply to retire) and leftovers, deleted at once: nothing reads
// them, since no container's active slot points there.
template <typename K, typename Current>
void adoptKeys(int fd, uint32_t activeBase, uint32_t (*idOf)(const K&), Current&& current) {
    for (const K& key : keysOf<K>(fd)) {
        if (slotBits(idOf(key)) == activeBase) {
            current(key);
        } else {
            remove(fd, key);
        }
    }
}

uint32_t plainId(const uint32_t& id) { return id; }
template <typename K>
uint32_t keyEpid(const K& key) {
    return key.epid;
}
template <typename K>
uint32_t keySlot(const K& key) {
    return key.slot;
}
template <typename K>
uint32_t lpmSlot(const K& key) {
    return ntohl(key.slot);
}

}  // namespace

MapWriter::MapWriter(PolicyMapFds fds, const pal_config& initial) : fds_(fds), config_(initial) {
    update(fds_.config, uint32_t{0}, config_, "pal_config");
}

MapWriter::MapWriter(PolicyMapFds fds, const pal_config& initial, Adopt)
    : fds_(fds), config_(initial) {
    pal_config found{};
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(fds_.config, &zero, &found) == 0) config_.active_gen = found.active_gen;

    const uint32_t active = generationIdBase(config_.active_gen);
    const unsigned slot = config_.active_gen & 1;
    for (uint64_t cgid : keysOf<uint64_t>(fds_.cgroups)) {
        pal_cgroup c{};
        if (bpf_map_lookup_elem(fds_.cgroups, &cgid, &c) != 0) continue;
        current_.cgroups[cgid] = {c.epid[slot], c.container};
        current_.policies[c.epid[slot]] = c.policy[slot];
    }
    adoptKeys<uint32_t>(fds_.portsets, active, plainId,
                        [&](uint32_t id) { current_.portsets[id] = {}; });
    adoptKeys<pal_lpm4_key>(fds_.lpm4, active, lpmSlot<pal_lpm4_key>, [&](const pal_lpm4_key& k) {
        current_.lpm4.push_back({k, {}});
    });
    adoptKeys<pal_lpm6_key>(fds_.lpm6, active, lpmSlot<pal_lpm6_key>, [&](const pal_lpm6_key& k) {
        current_.lpm6.push_back({k, {}});
    });
    adoptKeys<pal_host4_key>(fds_.hosts4, active, keySlot<pal_host4_key>,
                             [&](const pal_host4_key& k) {
                                 current_.hosts4.push_back({k, {}});
                             });
    adoptKeys<pal_host6_key>(fds_.hosts6, active, keySlot<pal_host6_key>,
                             [&](const pal_host6_key& k) {
                                 current_.hosts6.push_back({k, {}});
                             });
    adoptKeys<pal_class_key>(fds_.classes, active, keyEpid<pal_class_key>,
                             [&](const pal_class_key& k) {
                                 current_.classes.push_back({k, {}});
                             });
    adoptKeys<pal_peer_key>(fds_.peers, active, keyEpid<pal_peer_key>, [&](const pal_peer_key& k) {
        current_.peers.push_back({k, {}});
    });
    // Names carry no generation: all of them are the generation in force's until the next
    // apply() retires those it does not have.
    for (const pal_fqdn_name& key : keysOf<pal_fqdn_name>(fds_.fqdnNames)) {
        uint64_t id = 0;
        if (bpf_map_lookup_elem(fds_.fqdnNames, &key, &id) == 0) current_.fqdnNames[id] = {key, ""};
    }
    config_.fqdn_on = !current_.fqdnNames.empty();
    update(fds_.config, zero, config_, "pal_config");
}

std::string MapWriter::capacityProblem(const MapEntries& next, bool besideInForce) const {
    std::string problems;
    auto check = [&](int fd, const char* map, size_t inForce, size_t needed) {
        if (!besideInForce) inForce = 0;
        bpf_map_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return;  // the write will say
        const size_t room = info.max_entries > inForce ? info.max_entries - inForce : 0;
        if (needed <= room) return;
        problems += std::string(problems.empty() ? "" : "; ") + map + " needs " +
                    std::to_string(needed) + " entries, has room for " + std::to_string(room) +
                    " (" + std::to_string(info.max_entries) + " in all, " +
                    std::to_string(inForce) + " held by the generation in force)";
    };
    check(fds_.portsets, "pal_portsets", current_.portsets.size(), next.portsets.size());
    check(fds_.hosts4, "pal_hosts4", current_.hosts4.size(), next.hosts4.size());
    check(fds_.hosts6, "pal_hosts6", current_.hosts6.size(), next.hosts6.size());
    check(fds_.lpm4, "pal_lpm4", current_.lpm4.size(), next.lpm4.size());
    check(fds_.lpm6, "pal_lpm6", current_.lpm6.size(), next.lpm6.size());
    check(fds_.classes, "pal_classes", current_.classes.size(), next.classes.size());
    check(fds_.peers, "pal_peers", current_.peers.size(), next.peers.size());
    size_t newNames = 0;
    for (const auto& [id, name] : next.fqdnNames) {
        newNames += !besideInForce || !current_.fqdnNames.count(id);
    }
    check(fds_.fqdnNames, "pal_fqdn_names", current_.fqdnNames.size(), newNames);
    size_t newContainers = 0;
    for (const auto& [cgid, e] : next.cgroups) {
        newContainers += !besideInForce || !current_.cgroups.count(cgid);
    }
    check(fds_.cgroups, "pal_cgroups", current_.cgroups.size(), newContainers);
    return problems;
}

std::vector<uint64_t> MapWriter::containersBeyondRoom(const MapEntries& next) const {
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fds_.cgroups, &info, &len) != 0) return {};  // apply() will say
    return palisade::containersBeyondRoom(next, current_.cgroups, info.max_entries);
}

// Deletes the entries of generation `gen` (not the one in force), and the
// pal_cgroups and pal_fqdn_names entries that current_ does not have.
void MapWriter::removeGeneration(const MapEntries& gen) {
    for (const auto& [cgid, e] : gen.cgroups) {
        if (!current_.cgroups.count(cgid)) remove(fds_.cgroups, cgid);
    }
    for (const auto& [id, name] : gen.fqdnNames) {
        if (!current_.fqdnNames.count(id)) remove(fds_.fqdnNames, name.key);
    }
    removeAll(fds_.hosts4, gen.hosts4);
    removeAll(fds_.hosts6, gen.hosts6);
    removeAll(fds_.lpm4, gen.lpm4);
    removeAll(fds_.lpm6, gen.lpm6);
    removeAll(fds_.classes, gen.classes);
    removeAll(fds_.peers, gen.peers);
    removeAll(fds_.portsets, gen.portsets);
}

void MapWriter::apply(const MapEntries& next, uint64_t generation) {
    const unsigned slot = generation & 1;
    retire();  // the generation before the current one, if still there
    if (std::string problem = capacityProblem(next, true); !problem.empty()) {
        throw CapacityError(problem);
    }

    // 1. The new generation's entries, unreachable until the switch.
    try {
        updateAll(fds_.portsets, next.portsets, "pal_portsets");
        updateAll(fds_.hosts4, next.hosts4, "pal_hosts4");
        updateAll(fds_.hosts6, next.hosts6, "pal_hosts6");
        updateAll(fds_.lpm4, next.lpm4, "pal_lpm4");
        updateAll(fds_.lpm6, next.lpm6, "pal_lpm6");
        updateAll(fds_.classes, next.classes, "pal_classes");
        updateAll(fds_.peers, next.peers, "pal_peers");
        updateAll(fds_.fqdnNames, fqdnNameEntries(next.fqdnNames), "pal_fqdn_names");
        for (const auto& [cgid, e] : next.cgroups) {
            const pal_policy& policy = next.policies.at(e.epid);
            pal_cgroup c{};
            if (bpf_map_lookup_elem(fds_.cgroups, &cgid, &c) != 0) {
                // A new container: the same either side.
                c.epid[0] = c.epid[1] = e.epid;
                c.policy[0] = c.policy[1] = policy;
            }
            c.epid[slot] = e.epid;
            c.policy[slot] = policy;
            c.container = e.container;
            update(fds_.cgroups, cgid, c, "pal_cgroups");
        }
    } catch (const DatapathError&) {
        // None of it is in force (active_gen still names the other slot), but
        // a container new in `next` got an entry that is: it goes too.
        removeGeneration(next);
        throw;
    }

    // 2. One write moves every container to the new generation.
    config_.active_gen = static_cast<uint32_t>(generation);
    config_.fqdn_on = !next.fqdnNames.empty();
    update(fds_.config, uint32_t{0}, config_, "pal_config");

    // 3. The old generation goes at retire().
    retiring_ = std::move(current_);
    current_ = next;
    pendingRetire_ = true;
}

void MapWriter::retire() {
    if (!pendingRetire_) return;
    pendingRetire_ = false;
    // Once no program can still be reading it.
    waitForGracePeriod();
    removeGeneration(retiring_);
    retiring_ = {};
}

void MapWriter::setContainer(uint64_t cgroupId, const MapEntries::ContainerEntry& entry) {
    pal_cgroup c{};
    c.epid[0] = c.epid[1] = entry.epid;
    c.policy[0] = c.policy[1] = current_.policies.at(entry.epid);
    c.container = entry.container;
    update(fds_.cgroups, cgroupId, c, "pal_cgroups");
    current_.cgroups[cgroupId] = entry;
}

void MapWriter::removeContainer(uint64_t cgroupId) {
    remove(fds_.cgroups, cgroupId);
    current_.cgroups.erase(cgroupId);
}

}  // namespace palisade
