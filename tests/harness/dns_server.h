// A scriptable DNS server for the integration tests (egress by DNS name: the
// kernel learns addresses from the DNS answers a container receives), and a
// resolve-then-connect client to run inside a container.
//
// DnsServer is a UDP and TCP server in a child process placed like Server (a
// netns, optionally a cgroup): it answers every query from a fixed table of rules,
// well-formed or in one of a few deliberately broken ways (DnsMisbehaviour).
// The wire encoding is written out here (RFC 1035, no library), every loop is
// bounded, the child dies with the test process (PR_SET_PDEATHSIG) and after
// its lifetime at the latest; the destructor kills it by PID and reaps it.
//
// What it answers to a query (one question; anything else gets FORMERR):
//   header   the query's ID, QR=1, the query's opcode, RD=1, RA=1, rcode
//            NOERROR when a rule matches, NXDOMAIN when none does; QDCOUNT=1,
//            ANCOUNT = the records kept (below), NSCOUNT = ARCOUNT = 0 (an EDNS
//            OPT record in the query is ignored and not echoed)
//   question echoed byte for byte (the qname keeps the case it was sent in)
//   answers  the first rule whose qname equals the asked name (ASCII
//            case-insensitively, trailing dot ignored) gives them: its records
//            in their order, keeping the CNAMEs whatever the qtype and the
//            other records only when their type is the qtype (an A query gets
//            the CNAMEs and the A records, an MX query only the CNAMEs).
//            Class IN. An owner name equal to the qname is a pointer to the
//            question (0xC00C); one equal to the target of an earlier CNAME
//            of this answer, a pointer to that target; any other name, the
//            CNAME targets themselves included, is written out in full.
// Over TCP (RFC 7766) each query and answer has its 2-byte length in front; a
// connection is served until the client closes it or stays silent for 2 s,
// one connection at a time, and every answer leaves in one write (TCP_NODELAY)
// unless TcpSmuggled says otherwise.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace palisade::test {

struct DnsRecord {
    enum Type : uint16_t { A = 1, CNAME = 5, AAAA = 28 };
    std::string name;  // owner, dotted ("www.example.test"; a trailing dot is ignored)
    Type type = A;
    std::string data;  // A: "198.18.0.1", AAAA: "fd00:18::1", CNAME: the target name
    uint32_t ttl = 300;
};

// Ways to answer wrongly, one per rule. Those that alter an answer record
// (CompressionLoop, Truncated, LongName) need at least one record kept for the
// query; with none they answer like None.
enum class DnsMisbehaviour {
    None,
    WrongId,          // the ID is the query's XOR 0x5a5a (a resolver drops the answer)
    CompressionLoop,  // the first record's owner is "\x04loop" + a pointer back to
                      // that label: a backward pointer that never ends
    Truncated,        // the packet is cut in the middle of the answer section (the
                      // header still counts every record; TC stays clear)
    TcBit,            // over UDP the TC flag is set (the answer section is
                      // complete); over TCP the answer as None
    LongName,         // the first record's owner is 7 labels of 63 bytes (448 bytes
                      // of labels, over the 255-byte limit), written out in full
    FromOtherPort,    // sent from a second socket on the same address, another port
    Uncompressed,     // every owner name written out in full, no pointers
    TcpSmuggled,      // over UDP as TcBit; over TCP the answer has one more record,
                      // a TXT whose data is a 2-byte length and a complete answer
                      // to the same query (same ID and question, the same records),
                      // and it leaves in two writes 100 ms apart, the second
                      // starting at that length: read from where a segment starts,
                      // it looks like the next answer of the stream
};

struct DnsAnswerRule {
    std::string qname;  // lower-case; matched ASCII case-insensitively
    std::vector<DnsRecord> answer;
    DnsMisbehaviour misbehaviour = DnsMisbehaviour::None;
};

struct DnsServerOptions {
    std::string bindAddress;  // required: an IPv4 or IPv6 address of the netns
    uint16_t port = 53;       // 0 = ephemeral (see DnsServer::port)
    std::vector<DnsAnswerRule> rules;
    Millis lifetime = Millis{10 * 60 * 1000};  // the child exits after this
};

namespace detail {
struct DnsServerState;
}

// RAII: the destructor kills the child by PID and reaps it. Movable. Not
// tracked by a Sandbox: declare it after the Sandbox whose netns it runs in.
class DnsServer {
  public:
    // Validates the rules (names, addresses: std::invalid_argument), starts
    // the server placed by `where` and waits until it is bound. Throws
    // std::runtime_error if it cannot be placed or bind.
    static DnsServer start(const Placement& where, const DnsServerOptions& options);

    DnsServer(DnsServer&&) noexcept;
    DnsServer& operator=(DnsServer&&) noexcept;
    DnsServer(const DnsServer&) = delete;
    DnsServer& operator=(const DnsServer&) = delete;
    ~DnsServer();

    uint16_t port() const;  // the bound port
    pid_t pid() const;      // -1 once stopped

    int queries() const;     // datagrams and TCP messages received, well-formed or not
    int tcpQueries() const;  // of those, the TCP messages
    int answered() const;    // responses sent (all but unparseable datagrams)
    // Polls queries() until it reaches n (true) or the timeout passes (false).
    bool waitForQueries(int n, Millis timeout = Millis{3000}) const;
    std::string lastQname() const;  // dotted, as sent (case kept), of the last parsed query
    uint16_t lastQtype() const;     // 0 before the first parsed query
    std::string lastPeer() const;   // source address of the last datagram

    void stop();  // kill by PID + reap; idempotent

  private:
    explicit DnsServer(std::shared_ptr<detail::DnsServerState> state);
    std::shared_ptr<detail::DnsServerState> state_;
};

// Wire helpers (pure functions, also what the server uses).
// A standard query: ID `id`, RD=1, one question `name` / `qtype` / IN.
std::string encodeDnsQuery(const std::string& name, uint16_t qtype, uint16_t id = 0x1234);
// The server's response to `query` under `rules` (see the top of this file),
// misbehaviour applied except FromOtherPort; nullopt for a datagram too short
// or malformed to answer at all (no header).
std::optional<std::string> buildDnsResponse(const std::string& query,
                                            const std::vector<DnsAnswerRule>& rules);

// ---------------------------------------------------------------------------
// Client side, for use inside a callIn / Container::inContainer child (acts
// in the caller's namespaces and cgroup).

// Points this (forked) process's resolver at `server` (an IPv4 or IPv6
// address): unshare(CLONE_NEWNS), makes / private recursively, bind-mounts a
// temporary file "nameserver <server>\noptions attempts:1 timeout:1\n" over
// /etc/resolv.conf and one with "hosts: files dns" over /etc/nsswitch.conf
// (when it exists), so that getaddrinfo() asks `server` and only it. Port 53
// only (glibc has no other). Throws std::runtime_error on failure.
void useResolverHere(const std::string& server);

struct ResolvedAddress {
    std::string address;   // "198.18.0.1", "fd00:18::1"
    int family = 0;        // AF_INET / AF_INET6
    int connectErrno = 0;  // 0, or the errno of the connect (see reached())
    // The connection's first packet got through: connected, or refused by
    // the destination (ECONNREFUSED).
    bool reached() const;
};

struct ResolveConnectResult {
    int gaiError = 0;  // getaddrinfo()'s return value: 0, EAI_NONAME, EAI_AGAIN, ...
    int gaiErrno = 0;  // errno when gaiError is EAI_SYSTEM
    // Distinct addresses in getaddrinfo()'s order, each connected to once.
    std::vector<ResolvedAddress> addresses;

    bool resolved() const { return gaiError == 0; }
    std::vector<std::string> addressList() const;  // the addresses, sorted
    bool allReached() const;                       // resolved, and every address reached
    std::string describe() const;                  // for failure messages
    // Through a callIn pipe: serialize() in the child, parse() in the test.
    std::string serialize() const;
    static ResolveConnectResult parse(const std::string& text);
};

// getaddrinfo(name, family, sockType) and then, at once, a connect to `port`
// of each distinct address it returned, one after the other: SOCK_STREAM a
// non-blocking connect + poll up to `timeout`, SOCK_DGRAM a plain connect()
// (see connectErrnoHere).
ResolveConnectResult resolveAndConnectHere(const std::string& name, uint16_t port,
                                           int family = AF_UNSPEC, int sockType = SOCK_STREAM,
                                           Millis timeout = Millis{3000});

// All of it in one child placed by `where` (e.g. Container::placement()):
// useResolverHere(resolver), then resolveAndConnectHere(...). Throws like
// callIn.
ResolveConnectResult resolveAndConnectIn(const Placement& where, const std::string& resolver,
                                         const std::string& name, uint16_t port,
                                         int family = AF_UNSPEC, int sockType = SOCK_STREAM,
                                         Millis timeout = Millis{3000});

// A raw exchange: sends encodeDnsQuery(name, qtype, id) from an unconnected
// UDP socket to server:port and waits up to `timeout` for one datagram from
// `server` (any source port: FromOtherPort answers arrive too).
struct DnsExchange {
    int error = 0;          // 0, or the errno (ETIMEDOUT: no answer)
    std::string response;   // the datagram received
    uint16_t fromPort = 0;  // its source port
};
DnsExchange dnsQueryHere(const std::string& server, const std::string& name, uint16_t qtype,
                         uint16_t port = 53, uint16_t id = 0x1234, Millis timeout = Millis{2000});

// The same over one TCP connection to server:port: for each name in turn,
// encodeDnsQuery(name, qtype, 0x2000 + its index) sent with its length, then
// its answer read whole (each `timeout` at most). Stops at the first failure,
// whose errno is in that exchange's `error` (ECONNRESET: no whole answer came).
std::vector<DnsExchange> dnsTcpQueriesHere(const std::string& server,
                                           const std::vector<std::string>& names, uint16_t qtype,
                                           uint16_t port = 53, Millis timeout = Millis{2000});

}  // namespace palisade::test
