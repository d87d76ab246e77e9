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

template <size_t N>
int sync(int fd, const std::map<Key<N>, uint64_t>& want) {
    int changed = 0;
    const auto have = entriesOf<N>(fd);
    for (const auto& [addr, owner] : have) {
        if (!want.count(addr)) changed += bpf_map_delete_elem(fd, addr.data()) == 0;
    }
    for (const auto& [addr, owner] : want) {
        auto it = have.find(addr);
        if (it != have.end() && it->second == owner) continue;
        if (bpf_map_update_elem(fd, addr.data(), &owner, BPF_ANY) != 0) {
            throw DatapathError(std::string("update map pal_addr") + (N == 4 ? "4" : "6") + ": " +
                                errnoText(errno));
        }
        changed++;
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
    return sync<4>(addr4Fd, want4) + sync<16>(addr6Fd, want6);
}

}  // namespace palisade
