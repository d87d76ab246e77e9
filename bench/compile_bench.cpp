// palisade-compile-bench: how long the agent's user-space half takes for a
// policy set of a given size, with no kernel involved: YAML parse + validation
// (parsePolicyText) and compilation to map entries (compile), the two steps
// between a policy file landing and its map writes.
//
//   palisade-compile-bench --cidrs 100000 [--rules 1] [--containers 1] [--repeat 3]
//
// The K CIDRs are distinct /32s in 198.18.1.0-198.19.255.255 (fillerAddress,
// the filler of every bench), spread over R egress rules of one policy that
// selects every container. Prints one JSON object: medians over the repeats.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "packets.h"
#include "policy/policy_parser.h"

namespace {

using Clock = std::chrono::steady_clock;

using palisade::test::fillerAddress;
using palisade::test::kFillerAddresses;

std::string policyYaml(uint64_t cidrs, uint64_t rules) {
    std::string y =
        "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: bench}\n"
        "spec:\n  selector: {name: \"*\"}\n  egress:\n";
    const uint64_t perRule = (cidrs + rules - 1) / rules;
    uint64_t next = 0;
    for (uint64_t r = 0; r < rules && next < cidrs; r++) {
        y += "    - toCIDR:\n";
        for (uint64_t i = 0; i < perRule && next < cidrs; i++, next++) {
            y += "        - " + fillerAddress(next) + "/32\n";
        }
    }
    y += "    - toCIDR: [198.18.0.1/32]\n";
    return y;
}

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"palisade-compile-bench: parse and compile time of a policy set"};
    uint64_t cidrs = 10000, rules = 1, containers = 1;
    int repeat = 3;
    app.add_option("--cidrs", cidrs, "CIDRs in the policy")
        ->check(CLI::Range(uint64_t{1}, kFillerAddresses));
    app.add_option("--rules", rules, "egress rules they are spread over")
        ->check(CLI::Range(uint64_t{1}, kFillerAddresses));
    app.add_option("--containers", containers, "containers the policy selects")
        ->check(CLI::Range(1, 100000));
    app.add_option("--repeat", repeat, "runs (the median is reported)")->check(CLI::Range(1, 50));
    CLI11_PARSE(app, argc, argv);

    const std::string text = policyYaml(cidrs, rules);
    std::vector<palisade::Container> cs(containers);
    for (uint64_t i = 0; i < containers; i++) {
        cs[i].id = std::string(64, 'a');
        cs[i].runtime = "docker";
        cs[i].name = "c" + std::to_string(i);
        cs[i].cgroupId = 1000 + i;
    }
    palisade::Config config;

    std::vector<double> parseMs, compileMs;
    size_t lpm4 = 0;
    for (int r = 0; r < repeat; r++) {
        const auto t0 = Clock::now();
        palisade::PolicyFile file = palisade::parsePolicyText(text, "bench.yaml");
        const auto t1 = Clock::now();
        if (!file.valid()) {
            std::fprintf(stderr, "invalid: %s\n", file.errors.front().str().c_str());
            return 1;
        }
        palisade::MapEntries entries = palisade::compile(file.policies, cs, config.defaults, 0);
        const auto t2 = Clock::now();
        parseMs.push_back(ms(t1 - t0));
        compileMs.push_back(ms(t2 - t1));
        lpm4 = entries.lpm4.size();
    }
    nlohmann::json out = {{"cidrs", cidrs},
                          {"rules", rules},
                          {"containers", containers},
                          {"yaml_bytes", text.size()},
                          {"lpm4_entries", lpm4},
                          {"parse_ms", median(parseMs)},
                          {"compile_ms", median(compileMs)}};
    std::printf("%s\n", out.dump().c_str());
    return 0;
}
