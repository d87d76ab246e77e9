// The scriptable DNS server and the resolve-then-connect client (dns_server.h).
#include "dns_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <resolv.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "harness_internal.h"

namespace palisade::test {

using Clock = std::chrono::steady_clock;
using detail::Fd;

namespace detail {

// Shared between a DnsServer handle and its child (a MAP_SHARED page).
struct DnsShared {
    std::atomic<int> queries{0};
    std::atomic<int> tcpQueries{0};
    std::atomic<int> answered{0};
    std::atomic<int> lastQtype{0};
    char lastQname[320]{};
    char lastPeer[64]{};
};

struct DnsServerState {
    pid_t pid = -1;
    uint16_t port = 0;
    DnsShared* shared = nullptr;
    ~DnsServerState() {
        stop();
        if (shared) {
            shared->~DnsShared();
            ::munmap(shared, sizeof(DnsShared));
        }
    }
    void stop() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);  // our own child, not yet reaped, so the PID is still ours
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        pid = -1;
    }
};

}  // namespace detail

// ---------------------------------------------------------------------------
// Wire encoding

namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxNameWire = 255;
constexpr uint16_t kClassIn = 1;
constexpr uint16_t kTypeTxt = 16;
constexpr size_t kMaxCharacterString = 255;
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kMaskOpcode = 0x7800;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr uint16_t kRcodeFormErr = 1;
constexpr uint16_t kRcodeNxDomain = 3;
constexpr size_t kMaxPointerTarget = 0x3fff;

std::string lowerAscii(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// Lower-case, without a trailing dot: the form names are compared in.
std::string normalName(const std::string& dotted) {
    std::string s = lowerAscii(dotted);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
}

// The labels of a dotted name; false if one is empty or longer than 63, or
// the whole is over 255 bytes on the wire. "" and "." are the root (no labels).
bool splitName(const std::string& dotted, std::vector<std::string>& labels) {
    labels.clear();
    std::string s = dotted;
    if (!s.empty() && s.back() == '.') s.pop_back();
    if (s.empty()) return true;
    size_t wire = 1;
    size_t start = 0;
    for (int i = 0; i < 256; ++i) {
        const size_t dot = s.find('.', start);
        const std::string label = s.substr(start, dot == std::string::npos ? dot : dot - start);
        if (label.empty() || label.size() > 63) return false;
        wire += 1 + label.size();
        labels.push_back(label);
        if (dot == std::string::npos) return wire <= kMaxNameWire;
        start = dot + 1;
    }
    return false;
}

void put16(std::string& out, uint16_t v) {
    out.push_back(static_cast<char>(v >> 8));
    out.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v & 0xffff));
}

void putPointer(std::string& out, size_t offset) {
    put16(out, static_cast<uint16_t>(0xc000 | offset));
}

uint16_t get16(const std::string& in, size_t at) {
    return static_cast<uint16_t>((static_cast<unsigned char>(in[at]) << 8) |
                                 static_cast<unsigned char>(in[at + 1]));
}

// A validated name, in full.
void putName(std::string& out, const std::string& dotted) {
    std::vector<std::string> labels;
    if (!splitName(dotted, labels)) throw std::invalid_argument("bad DNS name '" + dotted + "'");
    for (const auto& l : labels) {
        out.push_back(static_cast<char>(l.size()));
        out += l;
    }
    out.push_back('\0');
}

std::string rdataOf(const DnsRecord& r) {
    std::string out;
    switch (r.type) {
        case DnsRecord::A: {
            in_addr a{};
            if (::inet_pton(AF_INET, r.data.c_str(), &a) != 1)
                throw std::invalid_argument("A record of '" + r.name + "': not an IPv4 address '" +
                                            r.data + "'");
            out.assign(reinterpret_cast<const char*>(&a), sizeof a);
            break;
        }
        case DnsRecord::AAAA: {
            in6_addr a{};
            if (::inet_pton(AF_INET6, r.data.c_str(), &a) != 1)
                throw std::invalid_argument("AAAA record of '" + r.name +
                                            "': not an IPv6 address '" + r.data + "'");
            out.assign(reinterpret_cast<const char*>(&a), sizeof a);
            break;
        }
        case DnsRecord::CNAME:
            putName(out, r.data);
            break;
        default:
            throw std::invalid_argument("record of '" + r.name + "': type " +
                                        std::to_string(static_cast<unsigned>(r.type)) +
                                        " is not A, AAAA or CNAME");
    }
    return out;
}

void validateRules(const std::vector<DnsAnswerRule>& rules) {
    std::vector<std::string> labels;
    for (const auto& rule : rules) {
        if (!splitName(rule.qname, labels))
            throw std::invalid_argument("DnsServer: bad rule qname '" + rule.qname + "'");
        for (const auto& r : rule.answer) {
            if (!splitName(r.name, labels))
                throw std::invalid_argument("DnsServer: bad owner name '" + r.name + "'");
            (void)rdataOf(r);  // throws on a bad address / target / type
        }
    }
}

struct ParsedQuery {
    bool ok = false;    // a question was parsed
    std::string qname;  // dotted, case as sent
    uint16_t qtype = 0;
};

std::string header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an) {
    std::string out;
    put16(out, id);
    put16(out, flags);
    put16(out, qd);
    put16(out, an);
    put16(out, 0);
    put16(out, 0);
    return out;
}

// The records `kept` as an answer section after a header and `question` (see the top of
// dns_server.h); `asked` is the question's name in normal form.
void putRecords(std::string& out, const std::vector<const DnsRecord*>& kept,
                const std::string& asked, DnsMisbehaviour mis) {
    std::vector<std::pair<std::string, size_t>> targets;  // CNAME target (normal) -> offset
    const bool compress = mis != DnsMisbehaviour::Uncompressed;
    for (size_t i = 0; i < kept.size(); ++i) {
        const DnsRecord& rec = *kept[i];
        const std::string owner = normalName(rec.name);
        const size_t ownerAt = out.size();
        const auto earlier = std::find_if(targets.begin(), targets.end(),
                                          [&owner](const auto& t) { return t.first == owner; });
        if (i == 0 && mis == DnsMisbehaviour::CompressionLoop && ownerAt <= kMaxPointerTarget) {
            out += "\x04loop";
            putPointer(out, ownerAt);
        } else if (i == 0 && mis == DnsMisbehaviour::LongName) {
            for (int l = 0; l < 7; ++l) {
                out.push_back(static_cast<char>(63));
                out.append(63, static_cast<char>('a' + l));
            }
            out.push_back('\0');
        } else if (compress && owner == asked) {
            putPointer(out, kHeaderSize);
        } else if (compress && earlier != targets.end()) {
            putPointer(out, earlier->second);
        } else {
            putName(out, rec.name);
        }
        const std::string rdata = rdataOf(rec);
        put16(out, rec.type);
        put16(out, kClassIn);
        put32(out, rec.ttl);
        put16(out, static_cast<uint16_t>(rdata.size()));
        if (rec.type == DnsRecord::CNAME && out.size() <= kMaxPointerTarget)
            targets.emplace_back(normalName(rec.data), out.size());
        out += rdata;
    }
}

// The answer to `query` (see the top of dns_server.h). Over TCP, `smuggledAt` is set to the
// offset of a TcpSmuggled answer's inner message (its length) in the answer, 0 otherwise.
std::optional<std::string> respond(const std::string& query,
                                   const std::vector<DnsAnswerRule>& rules, ParsedQuery& parsed,
                                   DnsMisbehaviour& applied, bool overTcp = false,
                                   size_t* smuggledAt = nullptr) {
    applied = DnsMisbehaviour::None;
    if (smuggledAt) *smuggledAt = 0;
    if (query.size() < kHeaderSize) return std::nullopt;
    const uint16_t id = get16(query, 0);
    const uint16_t qflags = get16(query, 2);
    if (qflags & kFlagQr) return std::nullopt;  // a response: not ours to answer
    const uint16_t baseFlags = kFlagQr | (qflags & kMaskOpcode) | kFlagRd | kFlagRa;
    const std::string formErr = header(id, baseFlags | kRcodeFormErr, 0, 0);
    if (get16(query, 4) != 1) return formErr;

    // The question: plain labels (no pointers), at most 255 bytes, then type and class.
    size_t at = kHeaderSize;
    std::string dotted;
    bool ended = false;
    for (int i = 0; i < 128 && at < query.size(); ++i) {
        const auto len = static_cast<unsigned char>(query[at]);
        if (len == 0) {
            ++at;
            ended = true;
            break;
        }
        if (len > 63 || at + 1 + len > query.size()) return formErr;
        if (!dotted.empty()) dotted += '.';
        dotted.append(query, at + 1, len);
        at += 1 + len;
    }
    if (!ended || at - kHeaderSize > kMaxNameWire || at + 4 > query.size()) return formErr;
    const std::string question = query.substr(kHeaderSize, at + 4 - kHeaderSize);
    parsed.ok = true;
    parsed.qname = dotted;
    parsed.qtype = get16(query, at);

    const std::string asked = normalName(dotted);
    const DnsAnswerRule* rule = nullptr;
    for (const auto& r : rules) {
        if (normalName(r.qname) == asked) {
            rule = &r;
            break;
        }
    }
    if (!rule) {
        std::string out = header(id, baseFlags | kRcodeNxDomain, 1, 0);
        return out + question;
    }

    std::vector<const DnsRecord*> kept;
    for (const auto& rec : rule->answer)
        if (rec.type == DnsRecord::CNAME || rec.type == parsed.qtype) kept.push_back(&rec);
    const DnsMisbehaviour mis = rule->misbehaviour;
    applied = mis;
    uint16_t id2 = id;
    uint16_t flags = baseFlags;
    if (mis == DnsMisbehaviour::WrongId) id2 = id ^ 0x5a5a;
    const bool smuggle = mis == DnsMisbehaviour::TcpSmuggled;
    if (!overTcp && (mis == DnsMisbehaviour::TcBit || smuggle)) flags |= kFlagTc;

    const bool inner = overTcp && smuggle && smuggledAt;
    std::string out = header(id2, flags, 1, static_cast<uint16_t>(kept.size() + (inner ? 1 : 0)));
    out += question;
    const size_t answerStart = out.size();
    putRecords(out, kept, asked, mis);
    if (inner) {
        std::string forged = header(id2, flags, 1, static_cast<uint16_t>(kept.size()));
        forged += question;
        putRecords(forged, kept, asked, DnsMisbehaviour::None);
        std::string data;
        put16(data, static_cast<uint16_t>(forged.size()));
        data += forged;
        if (data.size() > kMaxCharacterString)
            throw std::invalid_argument("TcpSmuggled: the answer of '" + dotted + "' is too long");
        putPointer(out, kHeaderSize);
        put16(out, kTypeTxt);
        put16(out, kClassIn);
        put32(out, 300);
        put16(out, static_cast<uint16_t>(1 + data.size()));
        out.push_back(static_cast<char>(data.size()));
        *smuggledAt = out.size();
        out += data;
    }
    if (mis == DnsMisbehaviour::Truncated && !kept.empty())
        out.resize(answerStart + std::max<size_t>(1, (out.size() - answerStart) / 2));
    return out;
}

std::string addressText(const sockaddr_storage& ss) {
    char buf[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET) {
        ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
    } else if (ss.ss_family == AF_INET6) {
        const auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
        if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr))
            ::inet_ntop(AF_INET, &sin6.sin6_addr.s6_addr[12], buf, sizeof buf);
        else
            ::inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof buf);
    }
    return buf;
}

uint16_t portOf(const sockaddr_storage& ss) {
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(ss).sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(ss).sin6_port);
    return 0;
}

// A socket of `type` bound to `a` (IPv6: dual-stack when it is "::"); a SOCK_STREAM one
// listening.
Fd boundSocket(int type, const SockAddr& a, std::string& err) {
    Fd fd(::socket(a.family, type | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        err = "socket: " + detail::errnoText(errno);
        return Fd();
    }
    const int one = 1;
    const int zero = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.family == AF_INET6) ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (::bind(fd.get(), a.get(), a.len) != 0) {
        err = "bind: " + detail::errnoText(errno);
        return Fd();
    }
    if (type == SOCK_STREAM && ::listen(fd.get(), 16) != 0) {
        err = "listen: " + detail::errnoText(errno);
        return Fd();
    }
    return fd;
}

// Reads exactly `n` bytes from `fd` within `wait` (false: closed, failed or silent).
bool readFully(int fd, char* buf, size_t n, Millis wait) {
    const auto deadline = Clock::now() + wait;
    for (size_t got = 0, i = 0; got < n && i < 10000; ++i) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
        const ssize_t r = ::recv(fd, buf + got, n - got, MSG_DONTWAIT);
        if (r == 0) return false;
        if (r > 0) got += static_cast<size_t>(r);
        if (got == n) return true;
    }
    return false;
}

// Serves one accepted TCP connection: length-prefixed queries until the client closes it or
// is silent for 2 s (see the top of dns_server.h).
void serveTcp(Fd conn, const DnsServerOptions& options, detail::DnsShared* shared) {
    const int one = 1;
    ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    static char buf[65536];
    for (int n = 0; n < 100; ++n) {
        unsigned char len[2];
        if (!readFully(conn.get(), reinterpret_cast<char*>(len), 2, Millis{2000})) return;
        const size_t size = static_cast<size_t>(len[0] << 8 | len[1]);
        if (!readFully(conn.get(), buf, size, Millis{2000})) return;
        shared->queries.fetch_add(1, std::memory_order_release);
        shared->tcpQueries.fetch_add(1, std::memory_order_release);
        ParsedQuery parsed;
        DnsMisbehaviour applied = DnsMisbehaviour::None;
        size_t smuggledAt = 0;
        std::optional<std::string> response;
        try {
            response =
                respond(std::string(buf, size), options.rules, parsed, applied, true, &smuggledAt);
        } catch (const std::exception&) {
            response.reset();
        }
        if (parsed.ok) {
            std::snprintf(shared->lastQname, sizeof shared->lastQname, "%s", parsed.qname.c_str());
            shared->lastQtype.store(parsed.qtype, std::memory_order_relaxed);
        }
        if (!response) return;
        std::string wire;
        put16(wire, static_cast<uint16_t>(response->size()));
        wire += *response;
        // TcpSmuggled: the second write starts at the inner message's length.
        const size_t cut = smuggledAt ? 2 + smuggledAt : wire.size();
        if (!detail::writeAll(conn.get(), wire.data(), cut)) return;
        if (cut < wire.size()) {
            std::this_thread::sleep_for(Millis{100});
            if (!detail::writeAll(conn.get(), wire.data() + cut, wire.size() - cut)) return;
        }
        shared->answered.fetch_add(1, std::memory_order_release);
    }
}

// The server child: bind, report 'R'+port (or 'E'+why) on readyFd, serve.
int serveDns(const Placement& where, const DnsServerOptions& options, Fd readyFd,
             detail::DnsShared* shared, pid_t parent) {
    auto fail = [&readyFd](const std::string& why) {
        const std::string msg = "E" + why;
        detail::writeAll(readyFd.get(), msg.data(), msg.size());
        return 1;
    };
    if (std::string err = detail::enterPlacement(where); !err.empty()) return fail(err);
    SockAddr a;
    SockAddr other;
    try {
        a = parseSockAddr(options.bindAddress, options.port);
        other = parseSockAddr(options.bindAddress, 0);
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    std::string err;
    Fd fd = boundSocket(SOCK_DGRAM, a, err);
    if (!fd)
        return fail(err + " (" + options.bindAddress + ":" + std::to_string(options.port) + ")");
    Fd otherFd = boundSocket(SOCK_DGRAM, other, err);  // FromOtherPort answers leave from here
    if (!otherFd) return fail("second socket: " + err);
    sockaddr_storage bound{};
    socklen_t boundLen = sizeof bound;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &boundLen);
    const uint16_t boundPort = portOf(bound);
    Fd tcp = boundSocket(SOCK_STREAM, parseSockAddr(options.bindAddress, boundPort), err);
    if (!tcp) return fail("TCP: " + err);
    const char ready[3] = {'R', static_cast<char>(boundPort >> 8),
                           static_cast<char>(boundPort & 0xff)};
    detail::writeAll(readyFd.get(), ready, sizeof ready);
    readyFd.reset();

    static char buf[65536];
    const auto deadline = Clock::now() + options.lifetime;
    for (long events = 0; events < 1000000 && Clock::now() < deadline;) {
        if (::getppid() != parent) break;
        pollfd p[2] = {{fd.get(), POLLIN, 0}, {tcp.get(), POLLIN, 0}};
        if (::poll(p, 2, 200) <= 0) continue;
        ++events;
        if (p[1].revents & POLLIN) {
            Fd conn(::accept4(tcp.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (conn) serveTcp(std::move(conn), options, shared);
        }
        if (!(p[0].revents & POLLIN)) continue;
        sockaddr_storage peer{};
        socklen_t peerLen = sizeof peer;
        const ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&peer), &peerLen);
        if (n < 0) continue;
        std::snprintf(shared->lastPeer, sizeof shared->lastPeer, "%s", addressText(peer).c_str());
        shared->queries.fetch_add(1, std::memory_order_release);
        ParsedQuery parsed;
        DnsMisbehaviour applied = DnsMisbehaviour::None;
        std::optional<std::string> response;
        try {
            response =
                respond(std::string(buf, static_cast<size_t>(n)), options.rules, parsed, applied);
        } catch (const std::exception&) {
            response.reset();  // the rules were validated: not expected
        }
        if (parsed.ok) {
            std::snprintf(shared->lastQname, sizeof shared->lastQname, "%s", parsed.qname.c_str());
            shared->lastQtype.store(parsed.qtype, std::memory_order_relaxed);
        }
        if (!response) continue;
        const int out = applied == DnsMisbehaviour::FromOtherPort ? otherFd.get() : fd.get();
        ::sendto(out, response->data(), response->size(), MSG_DONTWAIT,
                 reinterpret_cast<sockaddr*>(&peer), peerLen);
        shared->answered.fetch_add(1, std::memory_order_release);
    }
    return 0;
}

}  // namespace

std::string encodeDnsQuery(const std::string& name, uint16_t qtype, uint16_t id) {
    std::string out = header(id, kFlagRd, 1, 0);
    putName(out, name);
    put16(out, qtype);
    put16(out, kClassIn);
    return out;
}

std::optional<std::string> buildDnsResponse(const std::string& query,
                                            const std::vector<DnsAnswerRule>& rules) {
    validateRules(rules);
    ParsedQuery parsed;
    DnsMisbehaviour applied = DnsMisbehaviour::None;
    return respond(query, rules, parsed, applied);
}

// ---------------------------------------------------------------------------
// DnsServer

DnsServer DnsServer::start(const Placement& where, const DnsServerOptions& options) {
    if (options.bindAddress.empty())
        throw std::invalid_argument("DnsServer: bindAddress is required");
    (void)parseSockAddr(options.bindAddress, options.port);  // throws if malformed
    validateRules(options.rules);

    auto state = std::make_shared<detail::DnsServerState>();
    void* mem = ::mmap(nullptr, sizeof(detail::DnsShared), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) detail::throwErrno("mmap");
    state->shared = new (mem) detail::DnsShared();

    detail::Pipe ready = detail::makePipe();
    const pid_t parent = ::getpid();
    const pid_t pid = detail::forkChild();
    if (pid == 0) {
        ready.read.reset();
        int rc = 1;
        try {
            rc = serveDns(where, options, std::move(ready.write), state->shared, parent);
        } catch (...) {
        }
        ::_exit(rc);
    }
    state->pid = pid;
    ready.write.reset();

    std::string msg;
    const auto deadline = Clock::now() + Millis{5000};
    char buf[512];
    for (int i = 0; i < 10000 && Clock::now() < deadline; ++i) {
        pollfd p{ready.read.get(), POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        const ssize_t n = ::read(ready.read.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        msg.append(buf, static_cast<size_t>(n));
        if (msg[0] == 'R' && msg.size() >= 3) break;
    }
    if (msg.empty() || msg[0] != 'R' || msg.size() < 3) {
        state->stop();
        throw std::runtime_error(
            "DnsServer on " + options.bindAddress + ":" + std::to_string(options.port) +
            " in netns '" + where.netns +
            "': " + (msg.size() > 1 ? msg.substr(1) : std::string("not ready in 5 s")));
    }
    state->port = static_cast<uint16_t>((static_cast<unsigned char>(msg[1]) << 8) |
                                        static_cast<unsigned char>(msg[2]));
    return DnsServer(std::move(state));
}

DnsServer::DnsServer(std::shared_ptr<detail::DnsServerState> state) : state_(std::move(state)) {}
DnsServer::DnsServer(DnsServer&&) noexcept = default;
DnsServer& DnsServer::operator=(DnsServer&& other) noexcept {
    if (this != &other) {
        stop();
        state_ = std::move(other.state_);
    }
    return *this;
}
DnsServer::~DnsServer() { stop(); }

uint16_t DnsServer::port() const { return state_ ? state_->port : 0; }
pid_t DnsServer::pid() const { return state_ ? state_->pid : -1; }

int DnsServer::queries() const {
    return state_ ? state_->shared->queries.load(std::memory_order_acquire) : 0;
}
int DnsServer::tcpQueries() const {
    return state_ ? state_->shared->tcpQueries.load(std::memory_order_acquire) : 0;
}
int DnsServer::answered() const {
    return state_ ? state_->shared->answered.load(std::memory_order_acquire) : 0;
}

bool DnsServer::waitForQueries(int n, Millis timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 100000; ++i) {
        if (queries() >= n) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(Millis{5});
    }
    return queries() >= n;
}

std::string DnsServer::lastQname() const {
    if (!state_) return "";
    (void)state_->shared->answered.load(std::memory_order_acquire);
    const char* s = state_->shared->lastQname;
    return std::string(s, ::strnlen(s, sizeof state_->shared->lastQname));
}

uint16_t DnsServer::lastQtype() const {
    return state_ ? static_cast<uint16_t>(state_->shared->lastQtype.load(std::memory_order_relaxed))
                  : 0;
}

std::string DnsServer::lastPeer() const {
    if (!state_) return "";
    (void)state_->shared->queries.load(std::memory_order_acquire);
    const char* s = state_->shared->lastPeer;
    return std::string(s, ::strnlen(s, sizeof state_->shared->lastPeer));
}

void DnsServer::stop() {
    if (state_) state_->stop();
}

// ---------------------------------------------------------------------------
// Client side

namespace {

// Bind-mounts a fresh file holding `content` over `target` (in this process's
// own mount namespace).
void bindFileOver(const std::string& target, const std::string& content) {
    char tmp[] = "/tmp/palisade-dns-XXXXXX";
    Fd fd(::mkostemp(tmp, O_CLOEXEC));
    if (!fd) detail::throwErrno("mkstemp /tmp/palisade-dns-XXXXXX");
    const std::string path = tmp;
    const bool written =
        detail::writeAll(fd.get(), content.data(), content.size()) && ::fchmod(fd.get(), 0644) == 0;
    const int writeErr = errno;
    fd.reset();
    if (!written) {
        ::unlink(path.c_str());
        errno = writeErr;
        detail::throwErrno("write " + path);
    }
    // A symlink (/etc/resolv.conf -> ../run/...) is followed: its target is covered.
    const int rc = ::mount(path.c_str(), target.c_str(), nullptr, MS_BIND, nullptr);
    const int mountErr = errno;
    ::unlink(path.c_str());  // the mount keeps the inode
    if (rc != 0) {
        errno = mountErr;
        detail::throwErrno("bind-mount a file over " + target);
    }
}

}  // namespace

void useResolverHere(const std::string& server) {
    (void)parseSockAddr(server, 53);  // throws if malformed
    if (::unshare(CLONE_NEWNS) != 0) detail::throwErrno("unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        detail::throwErrno("make / rprivate");
    bindFileOver("/etc/resolv.conf", "nameserver " + server + "\noptions attempts:1 timeout:1\n");
    // Only /etc/hosts and DNS: no nss-resolve / nss-mdns asking someone else.
    struct stat st {};
    if (::stat("/etc/nsswitch.conf", &st) == 0)
        bindFileOver("/etc/nsswitch.conf", "hosts: files dns\n");
    // glibc notices the changed files by itself; this makes it certain.
    ::res_init();
}

bool ResolvedAddress::reached() const { return connectErrno == 0 || connectErrno == ECONNREFUSED; }

std::vector<std::string> ResolveConnectResult::addressList() const {
    std::vector<std::string> out;
    for (const auto& a : addresses) out.push_back(a.address);
    std::sort(out.begin(), out.end());
    return out;
}

bool ResolveConnectResult::allReached() const {
    if (!resolved() || addresses.empty()) return false;
    return std::all_of(addresses.begin(), addresses.end(),
                       [](const ResolvedAddress& a) { return a.reached(); });
}

std::string ResolveConnectResult::describe() const {
    if (!resolved()) {
        std::string s = "getaddrinfo: " + std::string(::gai_strerror(gaiError)) + " (" +
                        std::to_string(gaiError) + ")";
        if (gaiError == EAI_SYSTEM) s += ": " + detail::errnoText(gaiErrno);
        return s;
    }
    std::string s = "resolved to";
    if (addresses.empty()) s += " nothing";
    for (const auto& a : addresses)
        s += " " + a.address + " (connect: " +
             (a.connectErrno == 0 ? std::string("ok") : detail::errnoText(a.connectErrno)) + ")";
    return s;
}

std::string ResolveConnectResult::serialize() const {
    std::string out = "gai " + std::to_string(gaiError) + " " + std::to_string(gaiErrno) + "\n";
    for (const auto& a : addresses)
        out += "addr " + a.address + " " + std::to_string(a.family) + " " +
               std::to_string(a.connectErrno) + "\n";
    return out;
}

ResolveConnectResult ResolveConnectResult::parse(const std::string& text) {
    ResolveConnectResult r;
    std::istringstream in(text);
    std::string line;
    bool sawGai = false;
    for (int i = 0; i < 4096 && std::getline(in, line); ++i) {
        std::istringstream fields(line);
        std::string kind;
        fields >> kind;
        if (kind == "gai") {
            fields >> r.gaiError >> r.gaiErrno;
            sawGai = !fields.fail();
        } else if (kind == "addr") {
            ResolvedAddress a;
            fields >> a.address >> a.family >> a.connectErrno;
            if (fields.fail()) throw std::runtime_error("ResolveConnectResult: bad line: " + line);
            r.addresses.push_back(a);
        } else if (!kind.empty()) {
            throw std::runtime_error("ResolveConnectResult: bad line: " + line);
        }
    }
    if (!sawGai) throw std::runtime_error("ResolveConnectResult: no result in '" + text + "'");
    return r;
}

ResolveConnectResult resolveAndConnectHere(const std::string& name, uint16_t port, int family,
                                           int sockType, Millis timeout) {
    ResolveConnectResult r;
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = sockType;
    addrinfo* res = nullptr;
    errno = 0;
    r.gaiError = ::getaddrinfo(name.c_str(), nullptr, &hints, &res);
    if (r.gaiError != 0) {
        r.gaiErrno = r.gaiError == EAI_SYSTEM ? errno : 0;
        return r;
    }
    int n = 0;
    for (const addrinfo* ai = res; ai && n < 256; ai = ai->ai_next, ++n) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        sockaddr_storage ss{};
        std::memcpy(&ss, ai->ai_addr, std::min<size_t>(ai->ai_addrlen, sizeof ss));
        const std::string text = addressText(ss);
        if (std::any_of(r.addresses.begin(), r.addresses.end(),
                        [&text](const ResolvedAddress& a) { return a.address == text; }))
            continue;
        ResolvedAddress a;
        a.address = text;
        a.family = ai->ai_family;
        r.addresses.push_back(a);
    }
    ::freeaddrinfo(res);
    for (auto& a : r.addresses)
        a.connectErrno = connectErrnoHere(a.address, port, sockType, timeout);
    return r;
}

ResolveConnectResult resolveAndConnectIn(const Placement& where, const std::string& resolver,
                                         const std::string& name, uint16_t port, int family,
                                         int sockType, Millis timeout) {
    const std::string text = callIn(
        where,
        [&] {
            useResolverHere(resolver);
            return resolveAndConnectHere(name, port, family, sockType, timeout).serialize();
        },
        Millis{20000} + 4 * timeout);
    return ResolveConnectResult::parse(text);
}

DnsExchange dnsQueryHere(const std::string& server, const std::string& name, uint16_t qtype,
                         uint16_t port, uint16_t id, Millis timeout) {
    DnsExchange x;
    const SockAddr a = parseSockAddr(server, port);
    const std::string query = encodeDnsQuery(name, qtype, id);
    Fd fd(::socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        x.error = errno;
        return x;
    }
    if (::sendto(fd.get(), query.data(), query.size(), 0, a.get(), a.len) < 0) {
        x.error = errno;
        return x;
    }
    const std::string want = addressText(a.storage);
    static char buf[65536];
    const auto deadline = Clock::now() + timeout;
    for (int i = 0; i < 1000; ++i) {
        const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) break;
        pollfd p{fd.get(), POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(left));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            x.error = errno;
            return x;
        }
        if (r == 0) break;
        sockaddr_storage from{};
        socklen_t fromLen = sizeof from;
        const ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, MSG_DONTWAIT,
                                     reinterpret_cast<sockaddr*>(&from), &fromLen);
        if (n < 0) continue;
        if (addressText(from) != want) continue;  // not from the server
        x.response.assign(buf, static_cast<size_t>(n));
        x.fromPort = portOf(from);
        return x;
    }
    x.error = ETIMEDOUT;
    return x;
}

std::vector<DnsExchange> dnsTcpQueriesHere(const std::string& server,
                                           const std::vector<std::string>& names, uint16_t qtype,
                                           uint16_t port, Millis timeout) {
    std::vector<DnsExchange> out;
    const SockAddr a = parseSockAddr(server, port);
    Fd fd(::socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd || ::connect(fd.get(), a.get(), a.len) != 0) {
        out.push_back(DnsExchange{errno, "", 0});
        return out;
    }
    static char buf[65536];
    for (size_t i = 0; i < names.size() && i < 100; ++i) {
        DnsExchange x;
        x.fromPort = port;
        std::string wire;
        const std::string query =
            encodeDnsQuery(names[i], qtype, static_cast<uint16_t>(0x2000 + i));
        put16(wire, static_cast<uint16_t>(query.size()));
        wire += query;
        unsigned char len[2];
        if (!detail::writeAll(fd.get(), wire.data(), wire.size())) {
            x.error = errno;
        } else if (!readFully(fd.get(), reinterpret_cast<char*>(len), 2, timeout) ||
                   !readFully(fd.get(), buf, static_cast<size_t>(len[0] << 8 | len[1]), timeout)) {
            x.error = ECONNRESET;
        } else {
            x.response.assign(buf, static_cast<size_t>(len[0] << 8 | len[1]));
        }
        out.push_back(x);
        if (x.error) break;
    }
    return out;
}

}  // namespace palisade::test
