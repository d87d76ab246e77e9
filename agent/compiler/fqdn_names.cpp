#include "compiler/fqdn_names.h"

#include <cstring>
#include <stdexcept>

namespace palisade {

pal_fqdn_name fqdnNameKey(const FqdnSelector& selector) {
    pal_fqdn_name key{};
    key.kind = selector.pattern ? PAL_FQDN_ONE_LABEL : PAL_FQDN_EXACT;
    size_t at = 0;
    size_t start = 0;
    // The parser checked the name: labels of 1..63 bytes, at most 253 characters, so the
    // wire form (one byte more per label, plus the root) fits in 255.
    while (start <= selector.name.size()) {
        size_t dot = selector.name.find('.', start);
        if (dot == std::string::npos) dot = selector.name.size();
        const size_t len = dot - start;
        if (len == 0 || len > 63 || at + 1 + len + 1 > sizeof(key.name)) {
            throw std::invalid_argument("not a DNS name: " + selector.name);
        }
        key.name[at++] = static_cast<uint8_t>(len);
        std::memcpy(key.name + at, selector.name.data() + start, len);
        at += len;
        start = dot + 1;
    }
    return key;  // the root label is the zero that follows
}

uint64_t fqdnSelectorId(const pal_fqdn_name& key) {
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    const auto* bytes = reinterpret_cast<const uint8_t*>(&key);
    for (size_t i = 0; i < sizeof(key); i++) h = (h ^ bytes[i]) * 0x100000001b3ULL;
    h &= ~PAL_FQDN_SELECTOR;
    return h ? h : 1;
}

bool fqdnPatternMatches(const std::string& parent, const std::string& name) {
    if (name.size() < parent.size() + 2) return false;
    const size_t dot = name.size() - parent.size() - 1;
    return name.compare(dot + 1, std::string::npos, parent) == 0 && name[dot] == '.' &&
           name.find('.') == dot;
}

}  // namespace palisade
