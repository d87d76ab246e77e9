// Every key of a BPF map, read with bpf_map_get_next_key.
#pragma once

#include <bpf/bpf.h>

#include <vector>

namespace palisade {

template <typename K>
std::vector<K> keysOf(int fd) {
    std::vector<K> keys;
    K key{};
    const K* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &key) == 0) {
        keys.push_back(key);
        prev = &keys.back();
    }
    return keys;
}

}  // namespace palisade
