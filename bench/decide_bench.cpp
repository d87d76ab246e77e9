// palisade-decide-bench: the cost of one egress decision (bpf/decide.bpf.h:
// the container's entry, the LPM lookup of (epid, address) and, for a
// destination with more than one port range, its port set) with K CIDRs
// in the maps, through BPF_PROG_TEST_RUN of the decide_test wrapper program
// (docs/reference/targets.md: "LPM costs via BPF_PROG_TEST_RUN"). Root; no sockets, no cgroups.
//
//   palisade-decide-bench --cidrs 10,1000,10000,100000 [--repeat 200000]
//
// For each K: a policy like that of the bench's agents (K filler /32s plus
// 198.18.0.1/32) is parsed and compiled by the agent's own code, written to
// the test program's private maps by the agent's MapWriter, and an allowed
// (198.18.0.1) and a refused (198.18.0.2) TCP packet are judged:
//   warm_ns   one test run of `repeat` iterations: the same lookups back to
//             back, caches hot (the floor)
//   single_ns the median of many one-iteration runs: a syscall between each
//             decision, closer to the cache state of a real connect()
// A second container has the same CIDRs and a toFQDNs rule (docs/reference/enforcement.md#fqdn),
// whose address it learned from a DNS answer run through the DNS programs:
//   fqdn_allow_*  an address allowed as learned (the CIDRs miss, then the learned lookup)
//   fqdn_deny_*   an address neither allows (both lookups miss)
// and, once, the DNS handling itself: a query noted (`dns_query_ns`), its answer with 1, 16
// and 64 A records learned (`dns_answer_<n>_ns`), and an answer no query asked for
// (`dns_unasked_ns`), each the median of one-iteration runs.
// With --sets N, N more policy sets share the K CIDRs (a policy selecting every container
// beside one of its own per set, each with one CIDR), as on a node of many applications
// (docs/prefix-classes.md); the decisions are those of one of these sets. Those sets also
// share 10.0.0.0/8 and each has a /24 of its own inside it (docs/prefix-classes.md#the-walk):
//   narrow_*  an address in the set's own /24 (its entry for that class)
//   walk_*    an address in another set's /24 (no entry there: one step up to 10.0.0.0/8's)
// Prints one JSON object per K, then the DNS one.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "datapath/map_writer.h"
#include "decide_test.skel.h"
#include "packets.h"
#include "policy/policy_parser.h"

namespace {

using palisade::test::fillerAddress;

// Set s's own /24 inside the shared 10.0.0.0/8, without its last byte: "10.0.<s>".
std::string narrowPrefix(uint64_t s) {
    return "10." + std::to_string(s / 256) + "." + std::to_string(s % 256);
}

std::string policyYaml(uint64_t cidrs, uint64_t sets) {
    std::string y =
        "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: bench}\n"
        "spec:\n  selector: {name: bench*}\n  egress:\n    - toCIDR:\n";
    for (uint64_t i = 0; i < cidrs; i++) y += "        - " + fillerAddress(i) + "/32\n";
    y += "    - toCIDR: [198.18.0.1/32]\n";
    if (sets) y += "    - toCIDR: [10.0.0.0/8]\n";
    for (uint64_t s = 0; s < sets; s++) {
        y += "---\napiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: set-" +
             std::to_string(s) + "}\nspec:\n  selector: {name: bench-set-" + std::to_string(s) +
             "}\n  egress:\n    - toCIDR: [" + fillerAddress(cidrs + s) + "/32, " +
             narrowPrefix(s) + ".0/24]\n";
    }
    return y +
           "---\napiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: by-name}\n"
           "spec:\n  selector: {name: bench-fqdn}\n  egress:\n"
           "    - toFQDNs: [{matchName: api.example.test}]\n"
           "      ports: [{port: 7001, protocol: TCP}]\n"
           "    - toCIDR: [198.18.0.53/32]\n      ports: [{port: 53, protocol: UDP}]\n";
}

constexpr const char* kFqdnName = "api.example.test";

struct Timing {
    double warmNs = 0;
    double singleNs = 0;
    int verdict = -1;
};

constexpr uint64_t kCgroup = 42;
constexpr uint64_t kFqdnCgroup = 43;
constexpr uint64_t kSetCgroups = 1000;  // bench-set-0, bench-set-1, ...

__sk_buff contextFor(uint64_t cgroup) {
    __sk_buff ctx{};
    ctx.cb[0] = static_cast<uint32_t>(cgroup);
    ctx.cb[1] = static_cast<uint32_t>(cgroup >> 32);
    return ctx;
}

// One run of `prog` on `pkt` for the container of `cgroup`: its duration in ns.
uint32_t runOnce(int prog, std::vector<uint8_t>& pkt, uint64_t cgroup) {
    __sk_buff ctx = contextFor(cgroup);
    LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(),
                .data_size_in = static_cast<uint32_t>(pkt.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = 1);
    if (bpf_prog_test_run_opts(prog, &o) != 0) {
        std::fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", std::strerror(errno));
        std::exit(2);
    }
    return o.duration;
}

// The container's DNS query and the resolver's answer with these addresses.
struct DnsExchange {
    std::vector<uint8_t> query, answer;
};
DnsExchange dnsExchange(const std::vector<std::string>& addresses) {
    using palisade::test::dnsMessage;
    using palisade::test::udpPacket;
    return {udpPacket("198.18.0.10", 5353, "198.18.0.53", 53, dnsMessage(false, kFqdnName, 7)),
            udpPacket("198.18.0.53", 53, "198.18.0.10", 5353,
                      dnsMessage(true, kFqdnName, 7, addresses))};
}

// The median duration of the answer (after its query, each time), or of the query alone.
double dnsMedian(decide_test* skel, DnsExchange ex, bool timeAnswer, int singles) {
    const int query = bpf_program__fd(skel->progs.pal_test_dns_query);
    const int answer = bpf_program__fd(skel->progs.pal_test_dns_answer);
    std::vector<uint32_t> runs;
    for (int i = 0; i < singles; i++) {
        const uint32_t q = runOnce(query, ex.query, kFqdnCgroup);
        const uint32_t a = runOnce(answer, ex.answer, kFqdnCgroup);
        runs.push_back(timeAnswer ? a : q);
    }
    std::sort(runs.begin(), runs.end());
    return runs[runs.size() / 2];
}

double unaskedMedian(decide_test* skel, DnsExchange ex, int singles) {
    const int answer = bpf_program__fd(skel->progs.pal_test_dns_answer);
    std::vector<uint32_t> runs;
    for (int i = 0; i < singles; i++) runs.push_back(runOnce(answer, ex.answer, kFqdnCgroup));
    std::sort(runs.begin(), runs.end());
    return runs[runs.size() / 2];
}

Timing judge(decide_test* skel, const char* dest, int repeat, int singles,
             uint64_t cgroup = kCgroup) {
    auto pkt = palisade::test::packetTo(dest, IPPROTO_TCP, 7001);
    __sk_buff ctx = contextFor(cgroup);
    const int prog = bpf_program__fd(skel->progs.pal_test_decide);
    Timing t;
    LIBBPF_OPTS(bpf_test_run_opts, warm, .data_in = pkt.data(),
                .data_size_in = static_cast<uint32_t>(pkt.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = repeat);
    if (bpf_prog_test_run_opts(prog, &warm) != 0) {
        std::fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", std::strerror(errno));
        std::exit(2);
    }
    t.warmNs = warm.duration;
    std::vector<uint32_t> one;
    for (int i = 0; i < singles; i++) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(),
                    .data_size_in = static_cast<uint32_t>(pkt.size()), .ctx_in = &ctx,
                    .ctx_size_in = sizeof(ctx), .repeat = 1);
        if (bpf_prog_test_run_opts(prog, &o) == 0) one.push_back(o.duration);
    }
    std::sort(one.begin(), one.end());
    t.singleNs = one.empty() ? 0 : one[one.size() / 2];
    uint8_t out[24] = {};
    uint32_t zero = 0;
    bpf_map_lookup_elem(bpf_map__fd(skel->maps.pal_test_out), &zero, out);
    t.verdict = out[0];
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"palisade-decide-bench: one egress decision via BPF_PROG_TEST_RUN"};
    std::string list = "10,1000,10000,100000";
    int repeat = 200000, singles = 2000;
    uint64_t sets = 0;
    app.add_option("--cidrs", list, "comma-separated CIDR counts");
    app.add_option("--sets", sets, "more policy sets sharing the CIDRs")
        ->check(CLI::Range(uint64_t{0}, uint64_t{10000}));
    app.add_option("--repeat", repeat, "iterations of the warm run")
        ->check(CLI::Range(1, 10000000));
    app.add_option("--singles", singles, "one-iteration runs")->check(CLI::Range(1, 100000));
    CLI11_PARSE(app, argc, argv);
    if (geteuid() != 0) {
        std::fprintf(stderr, "palisade-decide-bench: BPF_PROG_TEST_RUN needs root\n");
        return 2;
    }

    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        const uint64_t k = std::stoull(item);
        decide_test* skel = decide_test__open_and_load();
        if (!skel) {
            std::fprintf(stderr, "load decide_test: %s\n", std::strerror(errno));
            return 2;
        }
        palisade::PolicyFile f = palisade::parsePolicyText(policyYaml(k, sets), "bench.yaml");
        if (!f.valid()) {
            std::fprintf(stderr, "%s\n", f.errors.front().str().c_str());
            return 1;
        }
        palisade::Container c, byName;
        c.name = "bench";
        c.cgroupId = kCgroup;
        byName.name = "bench-fqdn";
        byName.cgroupId = kFqdnCgroup;
        std::vector<palisade::Container> containers{c, byName};
        for (uint64_t s = 0; s < sets; s++) {
            palisade::Container& member = containers.emplace_back();
            member.name = "bench-set-" + std::to_string(s);
            member.cgroupId = kSetCgroups + s;
        }
        const palisade::MapEntries e =
            palisade::compile(f.policies, containers, {}, palisade::generationIdBase(1));
        const uint64_t judged = sets ? kSetCgroups : kCgroup;
        pal_config config{};
        config.fqdn_min_ttl = 60;
        config.fqdn_max_ttl = 86400;
        config.fqdn_budget = 1u << 20;
        palisade::MapWriter writer(palisade::policyMapFds(skel->maps), config);
        writer.apply(e, 1);

        const Timing allow = judge(skel, "198.18.0.1", repeat, singles, judged);
        const Timing deny = judge(skel, "198.18.0.2", repeat, singles, judged);
        std::vector<std::string> many{"198.18.0.3"};
        for (int i = 1; i < 64; i++) many.push_back("198.18.2." + std::to_string(i));
        const double dnsQuery = dnsMedian(skel, dnsExchange({"198.18.0.3"}), false, singles);
        const double dnsAnswer1 = dnsMedian(skel, dnsExchange({"198.18.0.3"}), true, singles);
        const double dnsAnswer16 =
            dnsMedian(skel, dnsExchange({many.begin(), many.begin() + 16}), true, singles);
        const double dnsAnswer64 = dnsMedian(skel, dnsExchange(many), true, singles);
        const double dnsUnasked = unaskedMedian(skel, dnsExchange({"198.18.0.3"}), singles);
        Timing narrow, walk;
        if (sets >= 2) {
            narrow = judge(skel, (narrowPrefix(0) + ".1").c_str(), repeat, singles, judged);
            walk = judge(skel, (narrowPrefix(1) + ".1").c_str(), repeat, singles, judged);
        }
        const Timing fqdnAllow = judge(skel, "198.18.0.3", repeat, singles, kFqdnCgroup);
        const Timing fqdnDeny = judge(skel, "198.18.0.2", repeat, singles, kFqdnCgroup);
        nlohmann::json out = {{"cidrs", k},
                              {"sets", sets},
                              {"lpm4_entries", e.lpm4.size()},
                              {"hosts4_entries", e.hosts4.size()},
                              {"classes_entries", e.classes.size()},
                              {"allow_warm_ns", allow.warmNs},
                              {"allow_single_ns", allow.singleNs},
                              {"allow_verdict", allow.verdict},
                              {"deny_warm_ns", deny.warmNs},
                              {"deny_single_ns", deny.singleNs},
                              {"deny_verdict", deny.verdict},
                              {"narrow_warm_ns", narrow.warmNs},
                              {"narrow_single_ns", narrow.singleNs},
                              {"narrow_verdict", narrow.verdict},
                              {"walk_warm_ns", walk.warmNs},
                              {"walk_single_ns", walk.singleNs},
                              {"walk_verdict", walk.verdict},
                              {"fqdn_allow_warm_ns", fqdnAllow.warmNs},
                              {"fqdn_allow_single_ns", fqdnAllow.singleNs},
                              {"fqdn_allow_verdict", fqdnAllow.verdict},
                              {"fqdn_deny_warm_ns", fqdnDeny.warmNs},
                              {"fqdn_deny_single_ns", fqdnDeny.singleNs},
                              {"fqdn_deny_verdict", fqdnDeny.verdict},
                              {"dns_query_ns", dnsQuery},
                              {"dns_answer_1_ns", dnsAnswer1},
                              {"dns_answer_16_ns", dnsAnswer16},
                              {"dns_answer_64_ns", dnsAnswer64},
                              {"dns_unasked_ns", dnsUnasked}};
        std::printf("%s\n", out.dump().c_str());
        std::fflush(stdout);
        decide_test__destroy(skel);
    }
    return 0;
}
