// toFQDNs selectors as the BPF programs look them up (docs/reference/enforcement.md#fqdn):
// names in DNS wire form, and the selector ids shared by every generation.
#pragma once

#include <cstdint>
#include <string>

#include "policy/policy.h"

extern "C" {
#include <palisade/abi.h>
}

namespace palisade {

// The pal_fqdn_names key of a selector: a matchName under itself (PAL_FQDN_EXACT), a
// matchPattern "*.<name>" under <name> (PAL_FQDN_ONE_LABEL); the name in wire form
// (length-prefixed labels, lower case, zero-padded).
pal_fqdn_name fqdnNameKey(const FqdnSelector& selector);

// The selector's id: a 63-bit hash of its key, nonzero, equal in every generation and
// agent, so that addresses learned under it stay valid across reloads and restarts.
uint64_t fqdnSelectorId(const pal_fqdn_name& key);

// Whether `name` (lower case, no trailing dot) is one label in front of `parent`, which is
// what the pattern "*.<parent>" matches.
bool fqdnPatternMatches(const std::string& parent, const std::string& name);

}  // namespace palisade
