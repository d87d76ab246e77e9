#include "events/event_format.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctime>
#include <iterator>

namespace palisade {
namespace {

int64_t clockNs(clockid_t id) {
    timespec ts{};
    clock_gettime(id, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

std::string ipText(const uint8_t* addr, int family) {
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, sizeof(buf));
    return buf;
}

const char* transportName(uint8_t protocol) {
    switch (protocol) {
        case IPPROTO_TCP:
            return "tcp";
        case IPPROTO_UDP:
            return "udp";
        case IPPROTO_ICMP:
            return "icmp";
        case IPPROTO_ICMPV6:
            return "ipv6-icmp";
        case IPPROTO_RAW:
            return "raw";
        default:
            return nullptr;
    }
}

}  // namespace

const char* hookAction(uint8_t hook) {
    switch (hook) {
        case PAL_HOOK_CONNECT4:
        case PAL_HOOK_CONNECT6:
            return "connect";
        case PAL_HOOK_SENDMSG4:
        case PAL_HOOK_SENDMSG6:
            return "sendmsg";
        case PAL_HOOK_SOCK_CREATE:
        case PAL_HOOK_LSM_SOCKET:
        case PAL_HOOK_TP_SOCKET:
            return "socket-create";
        case PAL_HOOK_LSM_BPRM:
        case PAL_HOOK_TP_EXEC:
            return "exec";
        default:
            return "packet";
    }
}

namespace {

const char* outcomeOf(uint8_t verdict) {
    switch (verdict) {
        case PAL_VERDICT_DENY:
            return "denied";
        case PAL_VERDICT_ALLOW:
            return "allowed";
        default:
            return "unknown";  // audit and flag: the action went ahead, under watch
    }
}

const char* familyName(uint32_t family) {
    switch (family) {
        case AF_INET:
            return "AF_INET";
        case AF_INET6:
            return "AF_INET6";
        case AF_PACKET:
            return "AF_PACKET";
        default:
            return "other";
    }
}

// include/uapi/linux/capability.h, by bit number.
// clang-format off
constexpr const char* kCapabilities[] = {
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER",
    "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
    "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
    "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
    "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
// clang-format on

void addContainer(nlohmann::json& j, const EventContext& ctx, uint64_t cgroupId) {
    if (!ctx.container) {
        j["container"] = {{"cgroup_id", cgroupId}};
        return;
    }
    const Container& c = *ctx.container;
    j["container"] = {{"id", c.id}, {"name", c.name}, {"runtime", c.runtime}};
    if (!c.k8sNamespace.empty() || !c.pod.empty()) {
        j["orchestrator"] = {{"namespace", c.k8sNamespace}, {"resource", {{"name", c.pod}}}};
    }
}

// The fields every kernel record has: verdict, mechanism, container, process, rule.
nlohmann::json kernelEvent(const pal_event_header& h, const EventContext& ctx, const Clock& clock) {
    nlohmann::json j;
    j["@timestamp"] = clock.iso8601(h.ts_ns);
    j["event"] = {{"action", hookAction(h.hook)}, {"outcome", outcomeOf(h.verdict)}};
    j["palisade"] = {{"verdict", verdictName(h.verdict)},
                     {"reason", reasonName(h.reason)},
                     {"mechanism", hookMechanism(h.hook)}};
    if (h.verdict == PAL_VERDICT_DENY) {
        // A tracepoint cannot refuse: it denies by killing the task (SPEC §4.7, §4.9).
        if (h.hook == PAL_HOOK_TP_SOCKET || h.hook == PAL_HOOK_TP_EXEC) {
            j["palisade"]["enforcement"] = "sigkill";
        } else if (h.hook == PAL_HOOK_LSM_BPRM) {
            j["palisade"]["enforcement"] = "eperm";
        }
    }
    addContainer(j, ctx, h.cgroup_id);
    std::string comm(h.comm, strnlen(h.comm, sizeof(h.comm)));
    j["process"] = {{"pid", h.pid},
                    {"name", comm},
                    {"user", {{"id", std::to_string(h.uid)}}},
                    {"group", {{"id", std::to_string(h.gid)}}}};
    if (!ctx.policies.empty()) {
        std::string names;
        for (const auto& p : ctx.policies) names += (names.empty() ? "" : ",") + p;
        j["rule"] = {{"name", names}};
    }
    return j;
}

}  // namespace

std::vector<std::string> capabilityNames(uint64_t caps) {
    std::vector<std::string> names;
    for (unsigned bit = 0; bit < 64; bit++) {
        if (!(caps & (uint64_t{1} << bit))) continue;
        names.push_back(bit < std::size(kCapabilities) ? kCapabilities[bit]
                                                       : "CAP_" + std::to_string(bit));
    }
    return names;
}

Clock::Clock() : offsetNs_(clockNs(CLOCK_REALTIME) - clockNs(CLOCK_BOOTTIME)) {}

std::string Clock::iso8601(uint64_t bootNs) const {
    return iso8601FromEpochNs(static_cast<int64_t>(bootNs) + offsetNs_);
}

std::string Clock::now() const { return iso8601FromEpochNs(clockNs(CLOCK_REALTIME)); }

std::string iso8601FromEpochNs(int64_t epochNs) {
    time_t secs = static_cast<time_t>(epochNs / 1'000'000'000);
    tm utc{};
    gmtime_r(&secs, &utc);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &utc);
    char out[48];
    snprintf(out, sizeof(out), "%s.%09lldZ", date, static_cast<long long>(epochNs % 1'000'000'000));
    return out;
}

const char* hookMechanism(uint8_t hook) {
    switch (hook) {
        case PAL_HOOK_CONNECT4:
            return "cgroup/connect4";
        case PAL_HOOK_CONNECT6:
            return "cgroup/connect6";
        case PAL_HOOK_SENDMSG4:
            return "cgroup/sendmsg4";
        case PAL_HOOK_SENDMSG6:
            return "cgroup/sendmsg6";
        case PAL_HOOK_SOCK_CREATE:
            return "cgroup/sock_create";
        case PAL_HOOK_SKB_EGRESS:
            return "cgroup_skb/egress";
        case PAL_HOOK_SKB_INGRESS:
            return "cgroup_skb/ingress";
        case PAL_HOOK_LSM_SOCKET:
            return "lsm/socket_create";
        case PAL_HOOK_LSM_BPRM:
            return "lsm/bprm_creds_from_file";
        case PAL_HOOK_TP_EXEC:
            return "tp_btf/sched_process_exec";
        case PAL_HOOK_TP_SOCKET:
            return "tracepoint/sys_enter_socket";
        default:
            return "unknown";
    }
}

const char* verdictName(uint8_t verdict) {
    switch (verdict) {
        case PAL_VERDICT_ALLOW:
            return "allow";
        case PAL_VERDICT_DENY:
            return "deny";
        case PAL_VERDICT_AUDIT:
            return "audit";
        case PAL_VERDICT_FLAG:
            return "flag";
        default:
            return "unknown";
    }
}

const char* reasonName(uint8_t reason) {
    switch (reason) {
        case PAL_REASON_NOT_ALLOWLISTED:
            return "not-allowlisted";
        case PAL_REASON_EXCEPT:
            return "except";
        case PAL_REASON_INTER_CONTAINER:
            return "inter-container";
        case PAL_REASON_IPV6_NOT_ALLOWED:
            return "ipv6-not-allowed";
        case PAL_REASON_RAW_SOCKET:
            return "raw-socket";
        case PAL_REASON_SETUID_EXEC:
            return "setuid-exec";
        case PAL_REASON_UNMATCHED:
            return "unmatched-container";
        default:
            return "none";
    }
}

nlohmann::json formatNetEvent(const pal_net_event& e, const EventContext& ctx, const Clock& clock) {
    nlohmann::json j = kernelEvent(e.h, ctx, clock);
    if (e.h.type == PAL_EVENT_SOCKET) {
        j["socket"] = {
            {"family", familyName(e.family)}, {"type", e.sock_type}, {"protocol", e.protocol}};
    } else {
        j["destination"] = {{"ip", ipText(e.daddr, e.family)}};
        if (e.protocol == IPPROTO_TCP || e.protocol == IPPROTO_UDP) {
            j["destination"]["port"] = e.dport;
        }
        if (e.orig_family == 6) j["palisade"]["original_destination"] = ipText(e.orig_daddr, 6);
        j["network"] = {{"type", e.family == 6 ? "ipv6" : "ipv4"},
                        {"iana_number", std::to_string(e.protocol)}};
        if (const char* t = transportName(e.protocol)) j["network"]["transport"] = t;
        const char* peerSide = "destination";
        if (e.h.hook == PAL_HOOK_SKB_INGRESS) {
            // The address is the sender's, the port the receiving container's;
            // the task that happened to run the softirq is nobody's.
            peerSide = "source";
            j["source"] = {{"ip", j["destination"]["ip"]}};
            j["destination"].erase("ip");
            if (j["destination"].empty()) j.erase("destination");
            j["network"]["direction"] = "ingress";
            j.erase("process");
        }
        if (ctx.peer) {
            j[peerSide]["container"] = {
                {"id", ctx.peer->id}, {"name", ctx.peer->name}, {"runtime", ctx.peer->runtime}};
        }
    }
    return j;
}

nlohmann::json formatExecEvent(const pal_exec_event& e, const EventContext& ctx,
                               const Clock& clock) {
    nlohmann::json j = kernelEvent(e.h, ctx, clock);
    std::string path(e.filename, strnlen(e.filename, sizeof(e.filename)));
    j["process"]["executable"] = path;
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", e.file_mode & 07777);
    j["file"] = {{"path", path},
                 {"mode", mode},
                 {"uid", std::to_string(e.file_uid)},
                 {"gid", std::to_string(e.file_gid)}};
    nlohmann::json privileges = nlohmann::json::array();
    if (e.privileges & PAL_PRIV_SETUID) privileges.push_back("setuid");
    if (e.privileges & PAL_PRIV_SETGID) privileges.push_back("setgid");
    if (e.privileges & PAL_PRIV_CAPS) privileges.push_back("capabilities");
    const bool nnp = e.flags & PAL_EXECF_NO_NEW_PRIVS;
    nlohmann::json exec = {
        {"privileges", privileges},
        {"raised", !nnp},
        {"euid", {{"old", std::to_string(e.old_euid)}, {"new", std::to_string(e.new_euid)}}},
        {"egid", {{"old", std::to_string(e.old_egid)}, {"new", std::to_string(e.new_egid)}}}};
    if (e.privileges & PAL_PRIV_CAPS) {
        exec["capabilities"] = {{"gained", capabilityNames(e.new_caps & ~e.old_caps)}};
    }
    if (nnp) exec["no_new_privs"] = true;
    // The tracepoint fallback saw no snapshot: "old" are the real ids.
    if (e.flags & PAL_EXECF_OLD_ASSUMED) exec["old_assumed"] = true;
    j["palisade"]["exec"] = exec;
    return j;
}

nlohmann::json formatRecord(const void* data, size_t size, const EventContext& ctx,
                            const Clock& clock) {
    if (size < sizeof(pal_event_header)) return nullptr;
    switch (static_cast<const pal_event_header*>(data)->type) {
        case PAL_EVENT_NET:
        case PAL_EVENT_SOCKET:
            if (size < sizeof(pal_net_event)) return nullptr;
            return formatNetEvent(*static_cast<const pal_net_event*>(data), ctx, clock);
        case PAL_EVENT_EXEC:
            if (size < sizeof(pal_exec_event)) return nullptr;
            return formatExecEvent(*static_cast<const pal_exec_event*>(data), ctx, clock);
        default:
            return nullptr;
    }
}

nlohmann::json agentEvent(const std::string& action, const Clock& clock,
                          const nlohmann::json& palisadeFields) {
    nlohmann::json j;
    j["@timestamp"] = clock.now();
    j["event"] = {{"action", action}};
    j["palisade"] = palisadeFields;
    return j;
}

}  // namespace palisade
