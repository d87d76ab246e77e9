#include "events/event_format.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctime>

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

const char* actionOf(uint8_t hook) {
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
        default:
            return "packet";
    }
}

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

}  // namespace

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
    const pal_event_header& h = e.h;
    nlohmann::json j;
    j["@timestamp"] = clock.iso8601(h.ts_ns);
    j["event"] = {{"action", actionOf(h.hook)}, {"outcome", outcomeOf(h.verdict)}};
    j["palisade"] = {{"verdict", verdictName(h.verdict)},
                     {"reason", reasonName(h.reason)},
                     {"mechanism", hookMechanism(h.hook)}};
    addContainer(j, ctx, h.cgroup_id);
    std::string comm(h.comm, strnlen(h.comm, sizeof(h.comm)));
    j["process"] = {{"pid", h.pid},
                    {"name", comm},
                    {"user", {{"id", std::to_string(h.uid)}}},
                    {"group", {{"id", std::to_string(h.gid)}}}};
    // A tracepoint cannot refuse: it denies by killing the task (SPEC §4.7, §4.9).
    if (h.verdict == PAL_VERDICT_DENY &&
        (h.hook == PAL_HOOK_TP_SOCKET || h.hook == PAL_HOOK_TP_EXEC)) {
        j["palisade"]["enforcement"] = "sigkill";
    }
    if (h.type == PAL_EVENT_SOCKET) {
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
    }
    if (!ctx.policies.empty()) {
        std::string names;
        for (const auto& p : ctx.policies) names += (names.empty() ? "" : ",") + p;
        j["rule"] = {{"name", names}};
    }
    return j;
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
