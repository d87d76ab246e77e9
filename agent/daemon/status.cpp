#include "daemon/status.h"

#include <sys/utsname.h>

#include <algorithm>
#include <sstream>

#include "datapath/hooks.h"
#include "events/event_format.h"

namespace palisade {

namespace {

// docs/reference/enforcement.md#fqdn: by container, the addresses it learned and their time
// left, and how many it was refused; only containers with either. One pass over the sweep.
std::map<uint64_t, nlohmann::json> fqdnByContainer(const StatusInputs& in) {
    std::map<uint64_t, nlohmann::json> out;
    if (!in.fqdn) return out;
    for (const FqdnLearned& l : in.fqdn->live) {
        const std::string* known = nullptr;
        if (in.fqdnNames) {
            if (auto n = in.fqdnNames->find(l.selector); n != in.fqdnNames->end()) {
                known = &n->second;
            }
        }
        nlohmann::json& entry = out[l.cgroupId];
        if (entry.is_null()) entry = {{"learned", nlohmann::json::array()}, {"refused", 0}};
        entry["learned"].push_back({{"name", fqdnSelectorText(known, l.selector)},
                                    {"address", l.address.str()},
                                    {"secondsLeft", l.secondsLeft}});
    }
    for (const auto& [cgid, refused] : in.fqdn->refused) {
        if (refused == 0) continue;
        nlohmann::json& entry = out[cgid];
        if (entry.is_null()) entry = {{"learned", nlohmann::json::array()}, {"refused", 0}};
        entry["refused"] = refused;
    }
    return out;
}

}  // namespace

nlohmann::json containersJson(const StatusInputs& in) {
    nlohmann::json out = nlohmann::json::array();
    std::map<uint64_t, nlohmann::json> fqdn = fqdnByContainer(in);
    for (const auto& c : in.containers) {
        auto p = in.policiesByCgroup.find(c.cgroupId);
        std::vector<std::string> addresses;
        if (auto a = in.addresses.byContainer.find(c.cgroupId);
            a != in.addresses.byContainer.end()) {
            for (const IpAddress& ip : a->second) addresses.push_back(ip.str());
        }
        nlohmann::json entry = {
            {"id", c.id},
            {"name", c.name},
            {"runtime", c.runtime},
            {"namespace", c.k8sNamespace},
            {"pod", c.pod},
            {"labels", c.labels},
            {"cgroup", c.cgroupPath},
            {"cgroupId", c.cgroupId},
            {"policies", p == in.policiesByCgroup.end() ? std::vector<std::string>{} : p->second},
            {"addresses", addresses}};
        if (!c.recordedAddresses.empty()) {
            nlohmann::json recorded = nlohmann::json::array();
            for (const IpAddress& a : c.recordedAddresses) recorded.push_back(a.str());
            entry["recordedAddresses"] = std::move(recorded);
        }
        if (auto e = in.addresses.unreadable.find(c.cgroupId); e != in.addresses.unreadable.end()) {
            entry["addressError"] = e->second;
        }
        if (auto t = in.addresses.conflicts.find(c.cgroupId); t != in.addresses.conflicts.end()) {
            nlohmann::json taken = nlohmann::json::object();
            for (const auto& [addr, owner] : t->second) {
                auto o = std::ranges::find(in.containers, owner, &Container::cgroupId);
                taken[addr.str()] = o == in.containers.end() ? std::to_string(owner) : o->id;
            }
            entry["addressConflicts"] = std::move(taken);
        }
        if (auto t = in.addresses.tooMany.find(c.cgroupId); t != in.addresses.tooMany.end()) {
            entry["addressesLeftOut"] = t->second - kMaxNetnsAddresses;
        }
        if (!c.podUid.empty()) entry["podUid"] = c.podUid;
        if (c.namespaceLabels) entry["namespaceLabels"] = *c.namespaceLabels;
        if (!c.metadataError.empty()) entry["metadataError"] = c.metadataError;
        if (auto f = fqdn.find(c.cgroupId); f != fqdn.end()) entry["fqdn"] = std::move(f->second);
        out.push_back(std::move(entry));
    }
    return out;
}

namespace {

// Which hook refuses, by the programs attached: the BPF LSM one (EPERM) or its tracepoint
// fallback (SIGKILL). For exec policy (docs/reference/enforcement.md#exec-policy) and packet
// sockets (docs/reference/enforcement.md#raw-and-packet-sockets).
nlohmann::json refusalStatus(const std::vector<AttachedProgram>& programs, uint8_t lsm,
                             uint8_t tracepoint) {
    for (const auto& p : programs) {
        if (p.hook == hookMechanism(lsm)) return {{"mechanism", p.hook}, {"deny", "eperm"}};
        if (p.hook == hookMechanism(tracepoint)) {
            return {{"mechanism", p.hook}, {"deny", "sigkill"}};
        }
    }
    return {{"mechanism", "none"}};
}

}  // namespace

std::string kernelRelease() {
    utsname u{};
    return uname(&u) == 0 ? u.release : "unknown";
}

nlohmann::json kernelFallbacks(const nlohmann::json& features) {
    nlohmann::json fallbacks = nlohmann::json::object();
    if (!features.value("hostNetnsCookie", true)) {
        fallbacks["hostLoopback"] =
            "no SO_NETNS_COOKIE (Linux 5.14): the host's network namespace is taken to be the "
            "initial one";
    }
    if (!features.value("tracing-ancestor-cgroup", true)) {
        fallbacks["cgroupAncestors"] =
            "no bpf_get_current_ancestor_cgroup_id in tracing and LSM programs: they walk the "
            "task's cgroups with CO-RE reads (same verdicts)";
    }
    if (!features.value("skb-current-task", true)) {
        fallbacks["packetEventTask"] =
            "no bpf_get_current_* in cgroup_skb programs: events of the packet-level check "
            "name no process (pid, uid, comm 0), and a container's TCP or UDP socket used by "
            "another task is not judged by the container's policy";
    }
    return fallbacks;
}

nlohmann::json statusJson(const StatusInputs& in) {
    nlohmann::json programs = nlohmann::json::array();
    for (const auto& p : in.programs) {
        programs.push_back({{"name", p.name}, {"hook", p.hook}, {"id", p.id}});
    }
    nlohmann::json policies = nlohmann::json::array();
    for (const auto& [path, file] : in.policySet.files) {
        for (const auto& name : file.policyNames) {
            policies.push_back({{"name", name},
                                {"file", path},
                                {"sha256", file.sha256},
                                {"generation", in.generation}});
        }
    }
    nlohmann::json notInForce = nlohmann::json::object();
    for (const auto& [path, why] : in.notInForce) notInForce[path] = why;
    nlohmann::json verdicts = nlohmann::json::object();
    for (uint8_t h = 1; h < PAL_HOOK_MAX; h++) {
        for (uint8_t v = 0; v < PAL_VERDICT_MAX; v++) {
            if (uint64_t n = in.counters.byHook[h][v])
                verdicts[hookMechanism(h)][verdictName(v)] = n;
        }
    }
    nlohmann::json fallbacks = nlohmann::json::object();
    const nlohmann::json exec = refusalStatus(in.programs, PAL_HOOK_LSM_BPRM, PAL_HOOK_TP_EXEC);
    const nlohmann::json packetSockets =
        refusalStatus(in.programs, PAL_HOOK_LSM_SOCKET, PAL_HOOK_TP_SOCKET);
    if (!in.addresses.unreadable.empty()) {
        const auto& [cgid, why] = *in.addresses.unreadable.begin();
        fallbacks["interContainer"] =
            "the addresses of " + std::to_string(in.addresses.unreadable.size()) +
            " container(s) could not be read (cgroup id " + std::to_string(cgid) + ": " + why +
            "): inter-container rules do not know them";
    }
    if (!in.addressProblem.empty()) {
        fallbacks["interContainerCapacity"] =
            in.addressProblem + ": inter-container rules do not know those addresses";
    }
    fallbacks.update(kernelFallbacks(in.features));
    if (exec["mechanism"] == hookMechanism(PAL_HOOK_TP_EXEC)) {
        fallbacks["execSetuid"] =
            hookMechanism(PAL_HOOK_TP_EXEC) + std::string(" (SIGKILL): BPF LSM not in use");
    }
    if (packetSockets["mechanism"] == hookMechanism(PAL_HOOK_TP_SOCKET)) {
        fallbacks["packetSockets"] =
            hookMechanism(PAL_HOOK_TP_SOCKET) +
            std::string(" (SIGKILL): BPF LSM not in use; io_uring's IORING_OP_SOCKET not seen");
    }
    return {{"cgroupRoot", in.cgroupRoot},
            {"stateDir", in.config.stateDir},
            {"kernel", kernelRelease()},
            {"features", in.features},
            {"fallbacks", fallbacks},
            {"exec", exec},
            {"packetSockets", packetSockets},
            {"programs", programs},
            {"generation", in.generation},
            {"policies", policies},
            {"policiesNotInForce", notInForce},
            {"containers", containersJson(in)},
            {"kubernetes", in.kubernetes},
            {"counters",
             {{"verdicts", verdicts},
              {"ringbufDrops", in.counters.ringbufDrops},
              {"subscriberDrops", in.subscriberDrops},
              {"dns",
               {{"answersLearnedFrom", in.counters.dnsAnswers},
                {"answersIgnored", in.counters.dnsIgnored},
                {"addressesLearned", in.counters.dnsLearned},
                {"addressesRefused", in.counters.dnsRefused},
                {"queriesNotNoted", in.counters.dnsUnnoted}}}}}};
}

std::string statusText(const nlohmann::json& s) {
    std::ostringstream out;
    out << "cgroup root:   " << s["cgroupRoot"].get<std::string>() << "\n"
        << "state dir:     " << s["stateDir"].get<std::string>() << "\n"
        << "generation:    " << s["generation"] << "\n"
        << "kernel:        " << s.value("kernel", "unknown") << "\n"
        << "features:     ";
    for (const auto& [name, have] : s["features"].items()) {
        out << " " << name << (have.get<bool>() ? "" : "(missing)");
    }
    for (const auto& [label, key] : {std::pair{"\nexec policy:   ", "exec"},
                                     std::pair{"\npacket socket: ", "packetSockets"}}) {
        const nlohmann::json& how = s.value(key, nlohmann::json::object());
        out << label << how.value("mechanism", "none");
        if (how.contains("deny")) out << " (deny: " << how["deny"].get<std::string>() << ")";
    }
    out << "\nfallbacks:\n";
    for (const auto& [what, how] : s["fallbacks"].items()) {
        out << "  " << what << ": " << how.get<std::string>() << "\n";
    }
    out << "programs:\n";
    for (const auto& p : s["programs"]) {
        out << "  " << p["name"].get<std::string>() << "  " << p["hook"].get<std::string>()
            << "  id " << p["id"] << "\n";
    }
    out << "policies:\n";
    for (const auto& p : s["policies"]) {
        out << "  " << p["name"].get<std::string>() << "  " << p["file"].get<std::string>()
            << "  sha256:" << p["sha256"].get<std::string>().substr(0, 12) << "\n";
    }
    if (const auto left = s.find("policiesNotInForce"); left != s.end()) {
        for (const auto& [file, why] : left->items()) {
            out << "  NOT IN FORCE  " << file << ": " << why.get<std::string>() << "\n";
        }
    }
    if (const auto& k = s["kubernetes"]; k.is_object()) {
        out << "kubernetes:    " << (k.value("connected", false) ? "connected" : "not connected");
        if (k.contains("pods")) {
            out << ", " << k["pods"] << " pods of " << k["nodeName"].get<std::string>()
                << ", last sync "
                << (k["lastSync"].is_string() ? k["lastSync"].get<std::string>() : "never");
        }
        if (const std::string error = k.value("error", ""); !error.empty()) out << ": " << error;
        out << "\n";
    }
    out << "containers:    " << s["containers"].size() << "\n"
        << "verdicts:\n";
    for (const auto& [hook, byVerdict] : s["counters"]["verdicts"].items()) {
        out << "  " << hook << ":";
        for (const auto& [verdict, n] : byVerdict.items()) out << " " << verdict << "=" << n;
        out << "\n";
    }
    out << "ring buffer drops: " << s["counters"]["ringbufDrops"]
        << ", slow-subscriber drops: " << s["counters"]["subscriberDrops"] << "\n";
    return out.str();
}

std::string containersText(const nlohmann::json& containers) {
    std::ostringstream out;
    char line[512];
    snprintf(line, sizeof(line), "%-14s %-20s %-11s %-24s %s\n", "ID", "NAME", "RUNTIME",
             "POLICIES", "CGROUP");
    out << line;
    for (const auto& c : containers) {
        std::string policies;
        for (const auto& p : c["policies"]) {
            policies += (policies.empty() ? "" : ",") + p.get<std::string>();
        }
        if (policies.empty()) policies = "(unmatched)";
        std::string name = c["name"].get<std::string>();
        if (!c["namespace"].get<std::string>().empty()) {
            name =
                c["namespace"].get<std::string>() + "/" + c["pod"].get<std::string>() + "/" + name;
        }
        snprintf(line, sizeof(line), "%-14s %-20s %-11s %-24s %s\n",
                 c["id"].get<std::string>().substr(0, 12).c_str(), name.c_str(),
                 c["runtime"].get<std::string>().c_str(), policies.c_str(),
                 c["cgroup"].get<std::string>().c_str());
        out << line;
        if (c.contains("metadataError")) {
            out << "               metadata unreadable: " << c["metadataError"].get<std::string>()
                << "\n";
        }
    }
    return out.str();
}

}  // namespace palisade
