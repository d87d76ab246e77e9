// Port ranges of egress rules, as the BPF side matches them (pal_port_range).
#pragma once

#include <vector>

#include "policy/policy.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

// The (protocol, port range) pairs one rule allows. No `ports` at all allows
// every protocol and port, as a Kubernetes NetworkPolicy or Cilium rule without
// ports does; a port entry without a protocol means TCP and UDP; ANY with a port
// means TCP and UDP on that port (other protocols have no ports), ANY alone
// means every protocol.
std::vector<pal_port_range> rulePortRanges(const std::vector<PortSpec>& ports);

// The union of ranges in a canonical form: per protocol, overlapping and adjacent
// ranges merged, equal ranges of TCP and UDP folded into one entry, sorted.
// Equal unions give equal vectors, so they can share one port set.
std::vector<pal_port_range> normalizePortRanges(const std::vector<pal_port_range>& ranges);

}  // namespace palisade
