#include "events/event_format.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctime>
#include <iterator>

#include "datapath/hooks.h"
#include "events/json_writer.h"

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
        case AF_XDP:
            return "AF_XDP";
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

// The members of a container object the caller opened (w.object(...)); closes it.
void writeContainer(JsonWriter& w, const Container& c) {
    w.string("id", c.id);
    w.string("name", c.name);
    w.string("runtime", c.runtime);
    w.end();
}

void writeEventHead(JsonWriter& w, const pal_event_header& h, const Clock& clock) {
    w.string("@timestamp", clock.iso8601(h.ts_ns));
    w.object("event");
    w.string("action", hookAction(h.hook));
    w.string("outcome", outcomeOf(h.verdict));
    w.end();
}

// Opens "palisade" with the verdict; the caller adds its fields and ends it.
void openVerdict(JsonWriter& w, const pal_event_header& h) {
    w.object("palisade");
    w.string("verdict", verdictName(h.verdict));
    w.string("reason", reasonName(h.reason));
    w.string("mechanism", hookMechanism(h.hook));
    if (h.verdict == PAL_VERDICT_DENY) {
        // A tracepoint cannot refuse: it denies by killing the task
        // (docs/reference/enforcement.md#exec-policy,
        // docs/reference/enforcement.md#kernel-features-and-fallbacks).
        if (h.hook == PAL_HOOK_TP_SOCKET || h.hook == PAL_HOOK_TP_EXEC) {
            w.string("enforcement", "sigkill");
        } else if (h.hook == PAL_HOOK_LSM_BPRM || h.hook == PAL_HOOK_LSM_SOCKET) {
            w.string("enforcement", "eperm");
        }
    }
}

// container, orchestrator, process (unless `process` is false) and rule.
void writeSubject(JsonWriter& w, const pal_event_header& h, const EventContext& ctx, bool process,
                  std::string_view executable = {}) {
    if (ctx.container) {
        const Container& c = *ctx.container;
        writeContainer(w.object("container"), c);
        if (!c.k8sNamespace.empty() || !c.pod.empty()) {
            w.object("orchestrator");
            w.string("namespace", c.k8sNamespace);
            w.object("resource");
            w.string("name", c.pod);
            w.end();
            w.end();
        }
    } else {
        w.object("container");
        w.number("cgroup_id", h.cgroup_id);
        w.end();
    }
    if (process) {
        w.object("process");
        w.number("pid", h.pid);
        w.string("name", std::string_view(h.comm, strnlen(h.comm, sizeof(h.comm))));
        if (!executable.empty()) w.string("executable", executable);
        w.object("user");
        w.string("id", std::to_string(h.uid));
        w.end();
        w.object("group");
        w.string("id", std::to_string(h.gid));
        w.end();
        w.end();
    }
    if (ctx.policies && !ctx.policies->empty()) {
        std::string names;
        for (const auto& p : *ctx.policies) names += (names.empty() ? "" : ",") + p;
        w.object("rule");
        w.string("name", names);
        w.end();
    }
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

std::string fqdnSelectorText(const std::string* name, uint64_t id) {
    return name ? *name : "selector " + std::to_string(id);
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
        case PAL_REASON_BIND_NOT_ALLOWED:
            return "bind-not-allowed";
        case PAL_REASON_SOURCE_ROUTE:
            return "source-route";
        case PAL_REASON_FQDN_NOT_ALLOWED:
            return "fqdn-not-allowed";
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

std::string formatNetEvent(const pal_net_event& e, const EventContext& ctx, const Clock& clock) {
    std::string line;
    line.reserve(512);
    JsonWriter w(line);
    writeEventHead(w, e.h, clock);
    openVerdict(w, e.h);
    const bool bind = e.h.hook == PAL_HOOK_BIND4 || e.h.hook == PAL_HOOK_BIND6;
    if (e.h.type == PAL_EVENT_NET && e.orig_family == 6) {
        w.string(bind ? "original_address" : "original_destination", ipText(e.orig_daddr, 6));
    }
    if (e.h.type == PAL_EVENT_NET && e.fqdn) {
        w.string("fqdn", fqdnSelectorText(ctx.fqdn, e.fqdn));
    }
    w.end();
    // A packet's arrival runs in whatever task the softirq interrupted: nobody's.
    const bool ingress = e.h.hook == PAL_HOOK_SKB_INGRESS;
    writeSubject(w, e.h, ctx, !ingress);
    if (e.h.type == PAL_EVENT_SOCKET) {
        w.object("socket");
        w.string("family", familyName(e.family));
        w.number("type", e.sock_type);
        w.number("protocol", e.protocol);
        w.end();
        w.end();
        return line;
    }
    const bool ports = e.protocol == IPPROTO_TCP || e.protocol == IPPROTO_UDP;
    if (bind) {
        // The local address and port asked for: the server side of what would follow.
        w.object("server");
        w.string("ip", ipText(e.daddr, e.family));
        if (ports) w.number("port", e.dport);
        w.end();
    }
    // For ingress the address is the sender's (source), the port the receiving
    // container's (destination).
    if (!bind && (!ingress || ports)) {
        w.object("destination");
        if (!ingress) w.string("ip", ipText(e.daddr, e.family));
        if (ports) w.number("port", e.dport);
        if (!ingress && ctx.peer) writeContainer(w.object("container"), *ctx.peer);
        w.end();
    }
    if (ingress) {
        w.object("source");
        w.string("ip", ipText(e.daddr, e.family));
        if (ctx.peer) writeContainer(w.object("container"), *ctx.peer);
        w.end();
    }
    w.object("network");
    w.string("type", e.family == 6 ? "ipv6" : "ipv4");
    w.string("iana_number", std::to_string(e.protocol));
    if (const char* t = transportName(e.protocol)) w.string("transport", t);
    if (ingress) w.string("direction", "ingress");
    w.end();
    w.end();
    return line;
}

std::string formatExecEvent(const pal_exec_event& e, const EventContext& ctx, const Clock& clock) {
    const std::string_view path(e.filename, strnlen(e.filename, sizeof(e.filename)));
    std::string line;
    line.reserve(768);
    JsonWriter w(line);
    writeEventHead(w, e.h, clock);
    openVerdict(w, e.h);
    const bool nnp = e.flags & PAL_EXECF_NO_NEW_PRIVS;
    w.object("exec");
    std::vector<std::string_view> privileges;
    if (e.privileges & PAL_PRIV_SETUID) privileges.push_back("setuid");
    if (e.privileges & PAL_PRIV_SETGID) privileges.push_back("setgid");
    if (e.privileges & PAL_PRIV_CAPS) privileges.push_back("capabilities");
    w.strings("privileges", privileges);
    w.boolean("raised", !nnp);
    w.object("euid");
    w.string("old", std::to_string(e.old_euid));
    w.string("new", std::to_string(e.new_euid));
    w.end();
    w.object("egid");
    w.string("old", std::to_string(e.old_egid));
    w.string("new", std::to_string(e.new_egid));
    w.end();
    if (e.privileges & PAL_PRIV_CAPS) {
        w.object("capabilities");
        w.strings("gained", capabilityNames(e.new_caps & ~e.old_caps));
        w.end();
    }
    if (nnp) w.boolean("no_new_privs", true);
    // The tracepoint fallback saw no snapshot: "old" are the real ids.
    if (e.flags & PAL_EXECF_OLD_ASSUMED) w.boolean("old_assumed", true);
    w.end();
    w.end();
    writeSubject(w, e.h, ctx, true, path);
    char mode[8];
    snprintf(mode, sizeof(mode), "%04o", e.file_mode & 07777);
    w.object("file");
    w.string("path", path);
    w.string("mode", mode);
    w.string("uid", std::to_string(e.file_uid));
    w.string("gid", std::to_string(e.file_gid));
    w.end();
    w.end();
    return line;
}

std::string formatDnsEvent(const pal_dns_event& e, const EventContext& ctx, const Clock& clock) {
    std::string line;
    line.reserve(512);
    JsonWriter w(line);
    w.string("@timestamp", clock.iso8601(e.h.ts_ns));
    w.object("event");
    w.string("action", "dns-learned");
    w.end();
    w.object("palisade");
    w.string("fqdn", fqdnSelectorText(ctx.fqdn, e.selector));
    w.number("count", e.count);
    w.end();
    writeSubject(w, e.h, ctx, false);
    // The question, from wire form (length-prefixed labels) to dotted text.
    std::string name;
    for (size_t at = 0; at < sizeof(e.name) && e.name[at] != 0;) {
        const size_t len = e.name[at];
        if (len > 63 || at + 1 + len > sizeof(e.name)) break;
        if (!name.empty()) name += '.';
        name.append(reinterpret_cast<const char*>(e.name) + at + 1, len);
        at += 1 + len;
    }
    w.object("dns");
    w.object("question");
    w.string("name", name);
    w.end();
    std::vector<std::string> resolved;
    for (uint32_t i = 0; i < std::min<uint32_t>(e.count, PAL_DNS_EVENT_ADDRS); i++) {
        if (e.family[i] == 4 || e.family[i] == 6)
            resolved.push_back(ipText(e.addr[i], e.family[i]));
    }
    w.strings("resolved_ip", resolved);
    w.end();
    w.end();
    return line;
}

std::string formatRecord(const void* data, size_t size, const EventContext& ctx,
                         const Clock& clock) {
    if (size < sizeof(pal_event_header)) return {};
    switch (static_cast<const pal_event_header*>(data)->type) {
        case PAL_EVENT_NET:
        case PAL_EVENT_SOCKET:
            if (size < sizeof(pal_net_event)) return {};
            return formatNetEvent(*static_cast<const pal_net_event*>(data), ctx, clock);
        case PAL_EVENT_EXEC:
            if (size < sizeof(pal_exec_event)) return {};
            return formatExecEvent(*static_cast<const pal_exec_event*>(data), ctx, clock);
        case PAL_EVENT_DNS:
            if (size < sizeof(pal_dns_event)) return {};
            return formatDnsEvent(*static_cast<const pal_dns_event*>(data), ctx, clock);
        default:
            return {};
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
