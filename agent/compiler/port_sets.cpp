#include "compiler/port_sets.h"

#include <algorithm>
#include <map>
#include <utility>

namespace palisade {
namespace {

uint8_t protocolBits(const PortSpec& spec) {
    if (!spec.protocol) return PAL_PROTO_TCP | PAL_PROTO_UDP;
    switch (*spec.protocol) {
        case Protocol::TCP:
            return PAL_PROTO_TCP;
        case Protocol::UDP:
            return PAL_PROTO_UDP;
        case Protocol::ICMP:
            return PAL_PROTO_ICMP;
        case Protocol::ANY:
            return spec.port ? (PAL_PROTO_TCP | PAL_PROTO_UDP) : PAL_PROTO_ALL;
    }
    return 0;
}

pal_port_range makeRange(uint16_t first, uint16_t last, uint8_t protos) {
    pal_port_range r{};
    r.first = first;
    r.last = last;
    r.protos = protos;
    return r;
}

using Interval = std::pair<uint32_t, uint32_t>;

std::vector<Interval> mergedIntervals(const std::vector<pal_port_range>& ranges, uint8_t bit) {
    std::vector<Interval> in;
    for (const auto& r : ranges) {
        if (r.protos & bit) in.emplace_back(r.first, r.last);
    }
    std::sort(in.begin(), in.end());
    std::vector<Interval> out;
    for (const auto& iv : in) {
        if (!out.empty() && iv.first <= out.back().second + 1) {
            out.back().second = std::max(out.back().second, iv.second);
        } else {
            out.push_back(iv);
        }
    }
    return out;
}

}  // namespace

std::vector<pal_port_range> rulePortRanges(const std::vector<PortSpec>& ports) {
    if (ports.empty()) return {makeRange(0, 65535, PAL_PROTO_ALL)};
    std::vector<pal_port_range> out;
    for (const auto& spec : ports) {
        uint16_t first = spec.port.value_or(0);
        uint16_t last = spec.port ? spec.endPort.value_or(first) : 65535;
        out.push_back(makeRange(first, last, protocolBits(spec)));
    }
    return out;
}

std::vector<pal_port_range> normalizePortRanges(const std::vector<pal_port_range>& ranges) {
    std::map<Interval, uint8_t> byInterval;
    for (uint8_t bit : {PAL_PROTO_TCP, PAL_PROTO_UDP}) {
        for (const auto& iv : mergedIntervals(ranges, bit)) byInterval[iv] |= bit;
    }
    // ICMP and other protocols have no ports: any range carrying them allows them all.
    for (const auto& r : ranges) {
        uint8_t portless = r.protos & (PAL_PROTO_ICMP | PAL_PROTO_OTHER);
        if (portless) byInterval[{0, 65535}] |= portless;
    }
    std::vector<pal_port_range> out;
    for (const auto& [iv, protos] : byInterval) {
        out.push_back(
            makeRange(static_cast<uint16_t>(iv.first), static_cast<uint16_t>(iv.second), protos));
    }
    return out;
}

}  // namespace palisade
