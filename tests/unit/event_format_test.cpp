// Kernel records → docs/reference/events-and-metrics.md JSON.
#include "events/event_format.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace palisade {
namespace {

pal_net_event netEvent(uint8_t hook, uint8_t verdict, uint8_t reason) {
    pal_net_event e{};
    e.h.type = PAL_EVENT_NET;
    e.h.cgroup_id = 77;
    e.h.pid = 4242;
    e.h.uid = 1000;
    e.h.gid = 1000;
    std::strcpy(e.h.comm, "curl");
    e.h.hook = hook;
    e.h.verdict = verdict;
    e.h.reason = reason;
    e.family = 4;
    e.protocol = IPPROTO_TCP;
    e.dport = 443;
    inet_pton(AF_INET, "52.94.1.7", e.daddr);
    return e;
}

TEST(EventFormat, DeniedConnectCarriesEveryField) {
    Container c;
    c.id = std::string(64, 'f');
    c.name = "api";
    c.runtime = "containerd";
    c.k8sNamespace = "prod";
    c.pod = "api-7d9f";
    auto e = netEvent(PAL_HOOK_CONNECT6, PAL_VERDICT_DENY, PAL_REASON_NOT_ALLOWLISTED);
    e.orig_family = 6;
    inet_pton(AF_INET6, "::ffff:52.94.1.7", e.orig_daddr);
    const std::vector<std::string> policies = {"api", "dns"};
    auto j = nlohmann::json::parse(formatNetEvent(e, {&c, &policies}, Clock()));

    EXPECT_EQ(j["event"]["action"], "connect");
    EXPECT_EQ(j["event"]["outcome"], "denied");
    EXPECT_EQ(j["palisade"]["verdict"], "deny");
    EXPECT_EQ(j["palisade"]["reason"], "not-allowlisted");
    EXPECT_EQ(j["palisade"]["mechanism"], "cgroup/connect6");
    EXPECT_EQ(j["palisade"]["original_destination"], "::ffff:52.94.1.7");
    EXPECT_EQ(j["container"]["id"], c.id);
    EXPECT_EQ(j["container"]["name"], "api");
    EXPECT_EQ(j["container"]["runtime"], "containerd");
    EXPECT_EQ(j["orchestrator"]["namespace"], "prod");
    EXPECT_EQ(j["orchestrator"]["resource"]["name"], "api-7d9f");
    EXPECT_EQ(j["process"]["pid"], 4242);
    EXPECT_EQ(j["process"]["name"], "curl");
    EXPECT_EQ(j["process"]["user"]["id"], "1000");
    EXPECT_EQ(j["destination"]["ip"], "52.94.1.7");
    EXPECT_EQ(j["destination"]["port"], 443);
    EXPECT_EQ(j["network"]["transport"], "tcp");
    EXPECT_EQ(j["network"]["type"], "ipv4");
    EXPECT_EQ(j["rule"]["name"], "api,dns");
    EXPECT_EQ(j["@timestamp"].get<std::string>().size(), 30u);
}

TEST(EventFormat, AuditSendmsgAndUnknownContainer) {
    auto e = netEvent(PAL_HOOK_SENDMSG4, PAL_VERDICT_AUDIT, PAL_REASON_EXCEPT);
    e.protocol = IPPROTO_UDP;
    auto j = nlohmann::json::parse(formatNetEvent(e, {}, Clock()));
    EXPECT_EQ(j["event"]["action"], "sendmsg");
    EXPECT_EQ(j["palisade"]["verdict"], "audit");
    EXPECT_EQ(j["palisade"]["reason"], "except");
    EXPECT_EQ(j["container"]["cgroup_id"], 77);
    EXPECT_FALSE(j.contains("rule"));
    EXPECT_FALSE(j["palisade"].contains("original_destination"));
}

TEST(EventFormat, PacketSocketKilledByTheTracepoint) {
    auto e = netEvent(PAL_HOOK_TP_SOCKET, PAL_VERDICT_DENY, PAL_REASON_RAW_SOCKET);
    e.h.type = PAL_EVENT_SOCKET;
    e.family = AF_PACKET;
    e.sock_type = SOCK_RAW;
    auto j = nlohmann::json::parse(formatNetEvent(e, {}, Clock()));
    EXPECT_EQ(j["event"]["action"], "socket-create");
    EXPECT_EQ(j["palisade"]["mechanism"], "tp_btf/sys_enter");
    EXPECT_EQ(j["palisade"]["enforcement"], "sigkill");
    EXPECT_EQ(j["socket"]["family"], "AF_PACKET");
    EXPECT_FALSE(j.contains("destination"));
}

// A bind names the local address and port asked for (server.*), never a destination.
TEST(EventFormat, BindNamesTheServerSide) {
    auto e = netEvent(PAL_HOOK_BIND6, PAL_VERDICT_DENY, PAL_REASON_BIND_NOT_ALLOWED);
    e.orig_family = 6;
    inet_pton(AF_INET6, "::ffff:0.0.0.0", e.orig_daddr);
    std::memset(e.daddr, 0, sizeof(e.daddr));
    e.dport = 8080;
    auto j = nlohmann::json::parse(formatNetEvent(e, {}, Clock()));
    EXPECT_EQ(j["event"]["action"], "bind");
    EXPECT_EQ(j["palisade"]["reason"], "bind-not-allowed");
    EXPECT_EQ(j["palisade"]["original_address"], "::ffff:0.0.0.0");
    EXPECT_FALSE(j["palisade"].contains("original_destination"));
    EXPECT_EQ(j["server"], nlohmann::json({{"ip", "0.0.0.0"}, {"port", 8080}}));
    EXPECT_FALSE(j.contains("destination"));
    EXPECT_EQ(j["network"]["transport"], "tcp");
}

TEST(EventFormat, XdpSocketRefusedByBpfLsm) {
    auto e = netEvent(PAL_HOOK_LSM_SOCKET, PAL_VERDICT_DENY, PAL_REASON_RAW_SOCKET);
    e.h.type = PAL_EVENT_SOCKET;
    e.family = AF_XDP;
    e.sock_type = SOCK_RAW;
    auto j = nlohmann::json::parse(formatNetEvent(e, {}, Clock()));
    EXPECT_EQ(j["event"]["action"], "socket-create");
    EXPECT_EQ(j["palisade"]["mechanism"], "lsm/socket_create");
    EXPECT_EQ(j["palisade"]["enforcement"], "eperm");
    EXPECT_EQ(j["socket"]["family"], "AF_XDP");
}

// Names come from users and processes: quotes, control characters and bytes
// that are not UTF-8 must still give one valid JSON line.
TEST(EventFormat, StringsAreEscapedAndInvalidUtf8Replaced) {
    Container c;
    c.name = "we\"ird\n";
    c.runtime = "docker";
    auto e = netEvent(PAL_HOOK_CONNECT4, PAL_VERDICT_DENY, PAL_REASON_NOT_ALLOWLISTED);
    std::strcpy(e.h.comm, "a\xff\\b");
    const std::string line = formatNetEvent(e, {&c}, Clock());
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["container"]["name"], "we\"ird\n");
    EXPECT_EQ(j["process"]["name"], "a\xef\xbf\xbd\\b");  // U+FFFD
}

// Ingress (docs/reference/enforcement.md#inter-container, the receiver's side): the address is the
// sender's, the port the receiver's, and no process is named.
TEST(EventFormat, IngressNamesTheSenderAsSource) {
    Container sender;
    sender.name = "rogue";
    auto e = netEvent(PAL_HOOK_SKB_INGRESS, PAL_VERDICT_DENY, PAL_REASON_INTER_CONTAINER);
    e.dport = 5432;
    auto j = nlohmann::json::parse(formatNetEvent(e, {nullptr, nullptr, &sender}, Clock()));
    EXPECT_EQ(j["source"]["ip"], "52.94.1.7");
    EXPECT_EQ(j["source"]["container"]["name"], "rogue");
    EXPECT_EQ(j["destination"], nlohmann::json({{"port", 5432}}));
    EXPECT_EQ(j["network"]["direction"], "ingress");
    EXPECT_FALSE(j.contains("process"));
}

// docs/reference/enforcement.md#fqdn: an address learned for a selector that does not allow this
// port (or whose time ran out) names the selector, by its text when the agent knows it.
TEST(EventFormat, FqdnNotAllowedNamesTheSelector) {
    auto e = netEvent(PAL_HOOK_CONNECT4, PAL_VERDICT_DENY, PAL_REASON_FQDN_NOT_ALLOWED);
    e.dport = 8080;
    e.fqdn = 0x1234567890abcdefULL;
    const std::string name = "www.example.test";
    EventContext ctx;
    ctx.fqdn = &name;
    auto j = nlohmann::json::parse(formatNetEvent(e, ctx, Clock()));
    EXPECT_EQ(j["palisade"]["reason"], "fqdn-not-allowed");
    EXPECT_EQ(j["palisade"]["fqdn"], "www.example.test");
    EXPECT_EQ(j["palisade"]["verdict"], "deny");
    EXPECT_EQ(j["destination"], nlohmann::json({{"ip", "52.94.1.7"}, {"port", 8080}}));

    j = nlohmann::json::parse(formatNetEvent(e, {}, Clock()));
    EXPECT_EQ(j["palisade"]["fqdn"], "selector " + std::to_string(0x1234567890abcdefULL))
        << "a selector this agent did not compile";

    e.fqdn = 0;
    e.h.reason = PAL_REASON_NOT_ALLOWLISTED;
    j = nlohmann::json::parse(formatNetEvent(e, ctx, Clock()));
    EXPECT_EQ(j["palisade"]["reason"], "not-allowlisted");
    EXPECT_FALSE(j["palisade"].contains("fqdn")) << j.dump();
}

TEST(EventFormat, DnsLearnedNamesTheQuestionAndTheAddresses) {
    pal_dns_event e{};
    e.h.type = PAL_EVENT_DNS;
    e.h.hook = PAL_HOOK_SKB_INGRESS;
    e.h.cgroup_id = 77;
    e.selector = 5;
    e.count = 9;  // more than the record carries: the first PAL_DNS_EVENT_ADDRS are named
    for (int i = 0; i < PAL_DNS_EVENT_ADDRS; i++) {
        e.family[i] = 4;
        const uint8_t a[4] = {198, 19, 1, static_cast<uint8_t>(i + 1)};
        std::memcpy(e.addr[i], a, 4);
    }
    e.family[1] = 6;
    const uint8_t v6[16] = {0xfd, 0, 0, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    std::memcpy(e.addr[1], v6, 16);
    const char wire[] =
        "\x03"
        "www"
        "\x07"
        "example"
        "\x04"
        "test";
    std::memcpy(e.name, wire, sizeof(wire));
    const std::string name = "*.example.test";
    EventContext ctx;
    ctx.fqdn = &name;
    const std::string line = formatRecord(&e, sizeof(e), ctx, Clock());
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["event"]["action"], "dns-learned");
    EXPECT_EQ(j["dns"]["question"]["name"], "www.example.test");
    ASSERT_EQ(j["dns"]["resolved_ip"].size(), static_cast<size_t>(PAL_DNS_EVENT_ADDRS));
    EXPECT_EQ(j["dns"]["resolved_ip"][0], "198.19.1.1");
    EXPECT_EQ(j["dns"]["resolved_ip"][1], "fd00:19::1");
    EXPECT_EQ(j["palisade"]["fqdn"], "*.example.test");
    EXPECT_EQ(j["palisade"]["count"], 9);
    EXPECT_EQ(j["container"]["cgroup_id"], 77);
    EXPECT_FALSE(j.contains("process")) << "a packet's arrival is nobody's task";
    EXPECT_TRUE(formatRecord(&e, sizeof(e) - 1, ctx, Clock()).empty()) << "a short record";
}

TEST(EventFormat, Iso8601HasNanoseconds) {
    EXPECT_EQ(iso8601FromEpochNs(1795428000123456789LL), "2026-11-23T10:00:00.123456789Z");
    EXPECT_EQ(iso8601FromEpochNs(5), "1970-01-01T00:00:00.000000005Z");
}

}  // namespace
}  // namespace palisade
