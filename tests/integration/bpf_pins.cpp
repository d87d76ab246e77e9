#include "bpf_pins.h"

#include <fcntl.h>
#include <unistd.h>

namespace palisade::test {

uint32_t pinnedId(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return 0;
    bpf_prog_info info{};  // id is the first field of every bpf_*_info
    uint32_t len = sizeof(info);
    bpf_obj_get_info_by_fd(fd, &info, &len);
    close(fd);
    return info.id;
}

template <typename K>
std::vector<K> pinnedMapKeys(const std::string& path) {
    std::vector<K> keys;
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return keys;
    K key{}, next{};
    const K* prev = nullptr;
    while (keys.size() < 10'000'000 && bpf_map_get_next_key(fd, prev, &next) == 0) {
        keys.push_back(next);
        key = next;
        prev = &key;
    }
    close(fd);
    return keys;
}
template std::vector<uint64_t> pinnedMapKeys<uint64_t>(const std::string&);
template std::vector<uint32_t> pinnedMapKeys<uint32_t>(const std::string&);

std::vector<uint32_t> attachedAt(const std::string& cgroup, bpf_attach_type type) {
    int fd = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY);
    std::vector<uint32_t> ids(16);
    uint32_t count = ids.size();
    uint32_t flags = 0;
    if (bpf_prog_query(fd, type, 0, &flags, ids.data(), &count) != 0) count = 0;
    close(fd);
    ids.resize(count);
    return ids;
}

}  // namespace palisade::test
