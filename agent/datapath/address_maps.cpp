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
int sync(int fd, const std::string& map, const std::map<Key<N>, uint64_t>& want,
         std::string& problems) {
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
                    (N == 8 ? " containers left out (limits.containers)"
                            : " addresses left out (limits.addresses)");
    }
    return changed;
}

}  // namespace

int syncAddressMaps(const AddressMapFds& fds,
                    const std::map<uint64_t, std::vector<IpAddress>>& byContainer,
                    const std::map<uint64_t, uint64_t>& endpoints) {
    std::map<Key<4>, uint64_t> want4;
    std::map<Key<16>, uint64_t> want6;
    std::map<Key<8>, uint64_t> wantEndpoints;
    for (const auto& [cgid, endpoint] : endpoints) {
        Key<8> k;
        std::memcpy(k.data(), &cgid, sizeof(cgid));
        wantEndpoints[k] = endpoint;
    }
    for (const auto& [cgid, addrs] : byContainer) {
        const auto endpoint = endpoints.find(cgid);
        const uint64_t owner = endpoint == endpoints.end() ? cgid : endpoint->second;
        for (const auto& a : addrs) {
            if (a.family == 4) {
                Key<4> k;
                std::memcpy(k.data(), a.bytes.data(), 4);
                want4[k] = owner;
            } else {
                want6[a.bytes] = owner;
            }
        }
    }
    std::string problems;
    // The endpoints first: a pod's address then never names its endpoint before its
    // containers know their endpoint.
    const int changed = sync<8>(fds.endpoints, "pal_endpoints", wantEndpoints, problems) +
                        sync<4>(fds.addr4, "pal_addr4", want4, problems) +
                        sync<16>(fds.addr6, "pal_addr6", want6, problems);
    if (!problems.empty()) throw CapacityError(problems);
    return changed;
}

}  // namespace palisade
