#include "datapath/address_maps.h"

#include <bpf/bpf.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string>

#include "datapath/datapath.h"
#include "util/errno_text.h"

namespace palisade {
namespace {

template <size_t N>
using Key = std::array<uint8_t, N>;

template <size_t N>
std::map<Key<N>, uint64_t> entriesOf(int fd) {
    std::map<Key<N>, uint64_t> out;
    Key<N> key{}, next{};
    const Key<N>* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        uint64_t owner = 0;
        if (bpf_map_lookup_elem(fd, next.data(), &owner) == 0) out[next] = owner;
        key = next;
        prev = &key;
    }
    return out;
}

// Deletions first, so that what they free is there for the additions. An address the
// map has no room for is left out (counted in `problems`), the others are still written.
template <size_t N>
int sync(int fd, const std::map<Key<N>, uint64_t>& want, std::string& problems) {
    const std::string map = std::string("pal_addr") + (N == 4 ? "4" : "6");
    int changed = 0;
    size_t full = 0;
    const auto have = entriesOf<N>(fd);
    for (const auto& [addr, owner] : have) {
        if (!want.count(addr)) changed += bpf_map_delete_elem(fd, addr.data()) == 0;
    }
    for (const auto& [addr, owner] : want) {
        auto it = have.find(addr);
        if (it != have.end() && it->second == owner) continue;
        if (bpf_map_update_elem(fd, addr.data(), &owner, BPF_ANY) == 0) {
            changed++;
        } else if (errno == E2BIG || errno == ENOSPC || errno == ENOMEM) {
            full++;
        } else {
            throw DatapathError("update map " + map + ": " + errnoText(errno));
        }
    }
    if (full > 0) {
        problems += std::string(problems.empty() ? "" : "; ") + map +
                    " is full: " + std::to_string(full) + " of " + std::to_string(want.size()) +
                    " addresses left out (limits.addresses)";
    }
    return changed;
}

}  // namespace

int syncAddressMaps(int addr4Fd, int addr6Fd,
                    const std::map<uint64_t, std::vector<IpAddress>>& byContainer) {
    std::map<Key<4>, uint64_t> want4;
    std::map<Key<16>, uint64_t> want6;
    for (const auto& [cgid, addrs] : byContainer) {
        for (const auto& a : addrs) {
            if (a.family == 4) {
                Key<4> k;
                std::memcpy(k.data(), a.bytes.data(), 4);
                want4[k] = cgid;
            } else {
                want6[a.bytes] = cgid;
            }
        }
    }
    std::string problems;
    const int changed = sync<4>(addr4Fd, want4, problems) + sync<16>(addr6Fd, want6, problems);
    if (!problems.empty()) throw CapacityError(problems);
    return changed;
}

}  // namespace palisade
