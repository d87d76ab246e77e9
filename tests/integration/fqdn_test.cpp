// toFQDNs on the real kernel (docs/reference/enforcement.md#fqdn): the agent binary, a DNS
// server in the test's "outside world", getaddrinfo() and connect() from a container.
#include <gtest/gtest.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>
#include <thread>

#include "agent_process.h"
#include "dns_server.h"
#include "harness.h"
#include "packets.h"

namespace palisade::test {
namespace {

using nlohmann::json;

constexpr const char* kPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: by-name}
spec:
  selector: {name: "app-*"}
  mode: MODE
  egress:
    - toCIDR: ["198.18.0.1/32", "fd00:18::1/128"]
      ports: [{port: 53, protocol: UDP}]
    - toFQDNs:
        - matchName: www.example.test
        - matchName: alias.example.test
        - matchPattern: "*.cdn.example.test"
        - matchName: many.example.test
        - matchName: short.example.test
        - matchName: peer.example.test
      ports: [{port: 80, protocol: TCP}]
    - toFQDNs:
        - matchName: WRONG-ID.example.test.
        - matchName: loop.example.test
        - matchName: cut.example.test
        - matchName: tc.example.test
        - matchName: long.example.test
        - matchName: other-port.example.test
        - matchName: smuggled.example.test
      ports: [{port: 80, protocol: TCP}]
)";

// A field of an event's `destination` object; null when it has none.
json destinationField(const json& ev, const char* key) {
    if (!ev.contains("destination") || !ev["destination"].is_object()) return nullptr;
    return ev["destination"].value(key, json());
}

DnsRecord a(const std::string& name, const std::string& ip, uint32_t ttl = 300) {
    return {name, DnsRecord::A, ip, ttl};
}

class Fqdn : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        app_ = &sandbox_->addContainer("app-1");
        twin_ = &sandbox_->addContainer("app-2");
        for (int i = 1; i <= 9; i++) sandbox_->addExternalAddress(ip(i) + "/32");
        sandbox_->addExternalAddress("fd00:19::1/128");
        web_ = std::make_unique<Server>(sandbox_->listenOnBridge(80));
        DnsServerOptions dns;
        dns.bindAddress = sandbox_->bridgeIp4();
        dns.rules = {
            {"www.example.test",
             {a("www.example.test", ip(1)),
              {"www.example.test", DnsRecord::AAAA, "fd00:19::1", 300}}},
            {"alias.example.test",
             {{"alias.example.test", DnsRecord::CNAME, "edge.provider.test", 300},
              a("edge.provider.test", ip(2))}},
            {"a.cdn.example.test", {a("a.cdn.example.test", ip(3))}},
            {"x.y.cdn.example.test", {a("x.y.cdn.example.test", ip(4))}},
            {"not-selected.test", {a("not-selected.test", ip(5))}},
            {"peer.example.test", {a("peer.example.test", twin_->ip4)}},
            {"short.example.test", {a("short.example.test", ip(6), 1)}},
            {"many.example.test",
             {a("many.example.test", ip(7)), a("many.example.test", ip(8)),
              a("many.example.test", ip(9)), a("many.example.test", ip(6))}},
        };
        for (const auto& [name, how] : std::vector<std::pair<std::string, DnsMisbehaviour>>{
                 {"wrong-id.example.test", DnsMisbehaviour::WrongId},
                 {"loop.example.test", DnsMisbehaviour::CompressionLoop},
                 {"cut.example.test", DnsMisbehaviour::Truncated},
                 {"tc.example.test", DnsMisbehaviour::TcBit},
                 {"long.example.test", DnsMisbehaviour::LongName},
                 {"other-port.example.test", DnsMisbehaviour::FromOtherPort},
                 {"smuggled.example.test", DnsMisbehaviour::TcpSmuggled}}) {
            dns.rules.push_back({name, {a(name, ip(9))}, how});
        }
        dns_ = std::make_unique<DnsServer>(
            DnsServer::start(Placement{sandbox_->bridgeNetns(), ""}, dns));
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*app_);
        agent_->describe(*twin_);
    }
    void TearDown() override {
        agent_.reset();
        dns_.reset();
        web_.reset();
        sandbox_.reset();
    }

    static std::string ip(int i) { return "198.19.1." + std::to_string(i); }

    // `tcpDns`: the resolver may be asked over TCP as well as UDP.
    void startWith(const std::string& mode, bool tcpDns = false) {
        std::string policy = kPolicy;
        policy.replace(policy.find("MODE"), 4, mode);
        if (tcpDns) {
            const std::string udp = "[{port: 53, protocol: UDP}]";
            policy.replace(policy.find(udp), udp.size(),
                           "[{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]");
        }
        agent_->writePolicy("by-name.yaml", policy);
        agent_->start();
    }

    ResolveConnectResult lookup(Container& c, const std::string& name, int family = AF_INET,
                                uint16_t port = 80) {
        return resolveAndConnectIn(c.placement(), sandbox_->bridgeIp4(), name, port, family);
    }

    // What `palisade status` shows of `c`.
    json containerEntry(const Container& c) {
        const json status = agent_->status();
        for (const json& entry : status["containers"]) {
            if (entry["cgroupId"] == c.cgroupId) return entry;
        }
        return nullptr;
    }

    // The learned addresses `palisade status` shows for `c`.
    json learnedOf(const Container& c) {
        json learned = json::array();
        const json entry = containerEntry(c);
        return entry.contains("fqdn") ? entry["fqdn"]["learned"] : json::array();
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* app_ = nullptr;
    Container* twin_ = nullptr;
    std::unique_ptr<Server> web_;
    std::unique_ptr<DnsServer> dns_;
    std::unique_ptr<AgentProcess> agent_;
};

TEST_F(Fqdn, AnAddressIsAllowedOnceTheContainerLookedItUp) {
    startWith("enforce");
    ASSERT_EQ(app_->connectErrno(ip(1), 80), EPERM) << "allowed before any lookup";

    const ResolveConnectResult www = lookup(*app_, "www.example.test", AF_UNSPEC);
    ASSERT_TRUE(www.resolved()) << www.describe();
    EXPECT_EQ(www.addressList(), (std::vector<std::string>{ip(1), "fd00:19::1"}));
    EXPECT_TRUE(www.allReached()) << www.describe();
    EXPECT_EQ(app_->connectErrno(ip(1), 80), 0);
    EXPECT_EQ(app_->connectErrno("::ffff:" + ip(1), 80), 0) << "v4-mapped: the IPv4 address";
    EXPECT_EQ(app_->connectErrno(ip(1), 443), EPERM) << "only the rule's ports";
    EXPECT_EQ(twin_->connectErrno(ip(1), 80), EPERM) << "learned by app-1, not by app-2";

    const json e = agent_->waitForEvent([&](const json& ev) {
        return ev["palisade"].value("reason", "") == "fqdn-not-allowed" &&
               destinationField(ev, "port") == 443;
    });
    ASSERT_FALSE(e.is_null()) << "no fqdn-not-allowed event";
    EXPECT_EQ(e["palisade"]["fqdn"], "www.example.test");
    EXPECT_EQ(e["destination"]["ip"], ip(1));
    EXPECT_EQ(e["palisade"]["verdict"], "deny");

    // A CNAME chain: the address is the target's.
    const ResolveConnectResult alias = lookup(*app_, "alias.example.test");
    EXPECT_TRUE(alias.allReached()) << alias.describe();
    // A pattern matches one label, not two; an unselected name teaches nothing.
    EXPECT_TRUE(lookup(*app_, "A.CDN.example.test").allReached()) << "case does not matter";
    const ResolveConnectResult deep = lookup(*app_, "x.y.cdn.example.test");
    ASSERT_TRUE(deep.resolved()) << deep.describe();
    EXPECT_EQ(app_->connectErrno(ip(4), 80), EPERM) << "two labels in front of the pattern";
    ASSERT_TRUE(lookup(*app_, "not-selected.test").resolved());
    EXPECT_EQ(app_->connectErrno(ip(5), 80), EPERM);

    // A name that resolves to another container does not make it a peer.
    Server twinWeb = twin_->listen(80, SOCK_STREAM, true);
    bool known = false;
    for (int i = 0; i < 50 && !known; i++) {
        const json twin = containerEntry(*twin_);
        known = !twin.is_null() && !twin["addresses"].empty();
        if (!known) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(known) << "the agent never learned app-2's address";
    ASSERT_TRUE(lookup(*app_, "peer.example.test").resolved());
    EXPECT_EQ(app_->connectErrno(twin_->ip4, 80), EPERM);

    const json learned = learnedOf(*app_);
    ASSERT_EQ(learned.size(), 5u) << learned.dump();
    bool named = false;
    for (const json& l : learned) {
        if (l["address"] == ip(1) && l["name"] == "www.example.test") {
            named = true;
            EXPECT_GT(l["secondsLeft"].get<int>(), 200);
        }
        EXPECT_NE(l["address"], ip(4));
        EXPECT_NE(l["address"], ip(5));
    }
    EXPECT_TRUE(named) << learned.dump();
    for (const json& ev : agent_->events()) {
        EXPECT_NE(ev["event"].value("action", ""), "dns-learned") << "off by default";
    }
    const json e2 = agent_->waitForEvent(
        [&](const json& ev) { return destinationField(ev, "ip") == twin_->ip4; });
    ASSERT_FALSE(e2.is_null()) << "no event for the connect to the other container";
    EXPECT_EQ(e2["palisade"]["reason"], "inter-container");
}

// A process of the container answers its own query "from" the resolver: it binds the
// resolver's address (IPV6_FREEBIND needs no privilege) and sends to its own socket, over
// loopback. That answer teaches nothing.
TEST_F(Fqdn, AContainerCannotAnswerItsOwnQueries) {
    startWith("enforce");
    const std::string resolver = sandbox_->bridgeIp6();
    const std::string forged = ip(5);
    const int rc = app_->inContainer([&] {
        const int q = socket(AF_INET6, SOCK_DGRAM, 0);
        const int f = socket(AF_INET6, SOCK_DGRAM, 0);
        const int one = 1;
        if (setsockopt(f, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) != 0) return 100 + errno;
        const SockAddr any = parseSockAddr("::", 5353);
        const SockAddr self = parseSockAddr("::1", 5353);
        const SockAddr server = parseSockAddr(resolver, 53);
        if (bind(q, any.get(), any.len) != 0) return 200 + errno;
        if (bind(f, server.get(), server.len) != 0) return 300 + errno;
        const auto query = dnsMessage(false, "www.example.test", 0x4242);
        const auto answer = dnsMessage(true, "www.example.test", 0x4242, {forged});
        if (sendto(q, query.data(), query.size(), 0, server.get(), server.len) < 0) {
            return 400 + errno;
        }
        if (sendto(f, answer.data(), answer.size(), 0, self.get(), self.len) < 0) {
            return 500 + errno;
        }
        // The forged answer reaches the socket: the packet is not dropped, it teaches nothing.
        // (Nothing answers DNS on the resolver's IPv6 address: no other answer comes.)
        const timeval wait{3, 0};
        setsockopt(q, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
        uint8_t buf[512];
        if (recv(q, buf, sizeof(buf), 0) < 0) return 600 + errno;
        close(q);
        close(f);
        return 0;
    });
    ASSERT_EQ(rc, 0) << "the forging failed, not the check: " << rc;
    EXPECT_EQ(app_->connectErrno(forged, 80), EPERM);
}

TEST_F(Fqdn, AConnectRightAfterTheLookupIsNeverRefused) {
    startWith("enforce");
    const std::string result = app_->inContainerStr(
        [&] {
            useResolverHere(sandbox_->bridgeIp4());
            int refused = 0;
            std::string first;
            for (int i = 0; i < 1000; i++) {
                const ResolveConnectResult r = resolveAndConnectHere("many.example.test", 80);
                if (!r.resolved() || !r.allReached()) {
                    if (first.empty()) first = r.describe();
                    refused++;
                }
            }
            return std::to_string(refused) + " " + first;
        },
        Millis{120000});
    EXPECT_EQ(result.substr(0, 2), "0 ") << result;
}

TEST_F(Fqdn, MalformedOrUnaskedAnswersTeachNothing) {
    startWith("enforce");
    for (const char* name : {"wrong-id.example.test", "loop.example.test", "cut.example.test",
                             "tc.example.test", "long.example.test", "other-port.example.test"}) {
        SCOPED_TRACE(name);
        const ResolveConnectResult r = lookup(*app_, name);
        for (const ResolvedAddress& addr : r.addresses) EXPECT_FALSE(addr.reached());
        EXPECT_EQ(app_->connectErrno(ip(9), 80), EPERM) << r.describe();
    }
    EXPECT_EQ(app_->connectErrno(ip(9), 80), EPERM);
    EXPECT_EQ(dns_->tcpQueries(), 0) << "glibc's TCP query after TC: its connect is refused";
    const json s = agent_->status();
    EXPECT_GE(s["counters"]["dns"]["answersIgnored"].get<int>(), 4) << s["counters"].dump();
    EXPECT_EQ(s["counters"]["dns"]["addressesLearned"], 0) << s["counters"].dump();
}

// An answer too large for a datagram comes truncated (TC) and glibc asks again over TCP.
TEST_F(Fqdn, AnAnswerOverTcpTeachesWhenTheResolverMayBeAskedOverTcp) {
    startWith("enforce", true);
    const ResolveConnectResult r = lookup(*app_, "tc.example.test");
    EXPECT_GE(dns_->tcpQueries(), 1) << "glibc did not ask again over TCP";
    EXPECT_TRUE(r.allReached()) << r.describe();
    EXPECT_EQ(app_->connectErrno(ip(9), 80), 0);
}

// Over TCP an answer is read only where the resolver's stream puts a message: an answer cut
// into two segments is stepped over (it teaches nothing, a documented limit), the second
// segment, which starts with a well-formed answer to the same query hidden in a TXT record
// of the first, is not read as an answer, and the next answer on the connection teaches.
TEST_F(Fqdn, OverTcpOnlyWholeMessagesWhereTheStreamPutsThemTeach) {
    startWith("enforce", true);
    const std::string resolver = sandbox_->bridgeIp4();
    const std::string result = app_->inContainerStr([&] {
        const std::vector<DnsExchange> x = dnsTcpQueriesHere(
            resolver, {"smuggled.example.test", "www.example.test"}, DnsRecord::A);
        std::string out;
        for (const DnsExchange& e : x) {
            out += std::to_string(e.error) + ":" + std::to_string(e.response.size()) + " ";
        }
        return out;
    });
    ASSERT_EQ(result.substr(0, 2), "0:") << "the smuggled answer did not arrive: " << result;
    ASSERT_NE(result.find(" 0:"), std::string::npos)
        << "the second answer did not arrive: " << result;
    EXPECT_EQ(app_->connectErrno(ip(9), 80), EPERM) << "learned from inside a record";
    EXPECT_EQ(app_->connectErrno(ip(1), 80), 0) << "the stream's next answer was not read";
}

TEST_F(Fqdn, AnAddressLivesForItsTtlWithinTheConfiguredBounds) {
    agent_->extraConfig() = "fqdn: {minTTL: 0, maxTTL: 2}\n";
    startWith("enforce");
    EXPECT_TRUE(lookup(*app_, "short.example.test").allReached());  // TTL 1
    EXPECT_TRUE(lookup(*app_, "www.example.test").allReached());    // TTL 300, lowered to 2
    std::this_thread::sleep_for(std::chrono::milliseconds(3000));
    EXPECT_EQ(app_->connectErrno(ip(6), 80), EPERM);
    EXPECT_EQ(app_->connectErrno(ip(1), 80), EPERM);
    const json e = agent_->waitForEvent([&](const json& ev) {
        return ev["palisade"].value("reason", "") == "fqdn-not-allowed" &&
               destinationField(ev, "ip") == ip(1);
    });
    ASSERT_FALSE(e.is_null()) << "no fqdn-not-allowed event for the address out of time";
    EXPECT_EQ(e["palisade"]["fqdn"], "www.example.test");
    // Looked up again, it is back.
    EXPECT_TRUE(lookup(*app_, "www.example.test").allReached());
}

TEST_F(Fqdn, AContainerHoldsAtMostItsBudgetAndNothingInUseIsPushedOut) {
    agent_->extraConfig() = "fqdn: {perContainerAddresses: 2}\n";
    startWith("enforce");
    const ResolveConnectResult r = lookup(*app_, "many.example.test");
    ASSERT_TRUE(r.resolved()) << r.describe();
    int reached = 0;
    for (const ResolvedAddress& addr : r.addresses) reached += addr.reached();
    EXPECT_EQ(reached, 2) << r.describe();
    const json entry = containerEntry(*app_);
    ASSERT_TRUE(entry.contains("fqdn")) << entry.dump();
    EXPECT_EQ(entry["fqdn"]["refused"], 2) << entry.dump();
    EXPECT_EQ(entry["fqdn"]["learned"].size(), 2u) << entry.dump();
    // Another lookup refreshes what it holds; the two it could not take stay refused.
    const ResolveConnectResult again = lookup(*app_, "many.example.test");
    reached = 0;
    for (const ResolvedAddress& addr : again.addresses) reached += addr.reached();
    EXPECT_EQ(reached, 2) << again.describe();
}

TEST_F(Fqdn, LearnedAddressesOutliveAnAgentRestart) {
    startWith("enforce");
    ASSERT_TRUE(lookup(*app_, "www.example.test").allReached());
    agent_->kill9();
    EXPECT_EQ(app_->connectErrno(ip(1), 80), 0) << "while the agent is away";
    EXPECT_TRUE(lookup(*app_, "a.cdn.example.test").allReached()) << "learning goes on";
    agent_->start();
    EXPECT_EQ(app_->connectErrno(ip(1), 80), 0);
    EXPECT_EQ(app_->connectErrno(ip(3), 80), 0);
    EXPECT_EQ(app_->connectErrno(ip(5), 80), EPERM);
}

// Lookups and connects go on, in a loop, while the agent is stopped, started, killed and
// started again: none is refused, none waits for the agent.
TEST_F(Fqdn, LookupsGoOnUnrefusedWhileTheAgentRestarts) {
    startWith("enforce");
    const std::string resolver = sandbox_->bridgeIp4();
    std::string result;
    std::thread traffic([&] {
        result = app_->inContainerStr(
            [&] {
                useResolverHere(resolver);
                int runs = 0;
                int refused = 0;
                std::string first;
                const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(12);
                while (std::chrono::steady_clock::now() < end && runs < 20000) {
                    const ResolveConnectResult r = resolveAndConnectHere("many.example.test", 80);
                    runs++;
                    if (!r.resolved() || !r.allReached()) {
                        if (first.empty()) first = r.describe();
                        refused++;
                    }
                }
                return std::to_string(refused) + " " + std::to_string(runs) + " " + first;
            },
            Millis{60000});
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_EQ(agent_->stop(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    agent_->start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    agent_->kill9();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    agent_->start();
    traffic.join();
    std::istringstream fields(result);
    int refused = -1;
    int runs = 0;
    fields >> refused >> runs;
    EXPECT_EQ(refused, 0) << result;
    EXPECT_GT(runs, 20) << result;
}

TEST_F(Fqdn, LearnedEventsSayWhatAnAnswerTaught) {
    agent_->extraConfig() = "fqdn: {learnedEvents: true}\n";
    startWith("enforce");
    ASSERT_TRUE(lookup(*app_, "WWW.example.test").allReached());
    const json e = agent_->waitForEvent(
        [](const json& ev) { return ev["event"].value("action", "") == "dns-learned"; });
    ASSERT_FALSE(e.is_null()) << "no dns-learned event";
    EXPECT_EQ(e["dns"]["question"]["name"], "www.example.test");
    EXPECT_EQ(e["dns"]["resolved_ip"], json::array({ip(1)}));
    EXPECT_EQ(e["palisade"]["fqdn"], "www.example.test");
    EXPECT_EQ(e["palisade"]["count"], 1);
    EXPECT_EQ(e["container"]["name"], "app-1");
}

TEST_F(Fqdn, AuditModeLearnsAndReports) {
    startWith("audit");
    // Nothing listens on 443: ECONNREFUSED is the packet getting through.
    EXPECT_EQ(app_->connectErrno(ip(1), 443), ECONNREFUSED);
    ASSERT_TRUE(lookup(*app_, "www.example.test").allReached());
    EXPECT_EQ(app_->connectErrno(ip(1), 443), ECONNREFUSED);
    const json e = agent_->waitForEvent(
        [&](const json& ev) { return ev["palisade"].value("reason", "") == "fqdn-not-allowed"; });
    ASSERT_FALSE(e.is_null()) << "no fqdn-not-allowed event";
    EXPECT_EQ(e["palisade"]["verdict"], "audit");
}

}  // namespace
}  // namespace palisade::test
