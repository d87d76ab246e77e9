// Looks at what the agent pinned under its stateDir, as an operator with
// bpftool would: object ids, map contents, programs attached to a cgroup.
#pragma once

#include <bpf/bpf.h>

#include <cstdint>
#include <string>
#include <vector>

namespace palisade::test {

// The kernel id of the object pinned at `path` (0 if none).
uint32_t pinnedId(const std::string& path);

// The keys of the map pinned at `path` (empty if none).
template <typename K>
std::vector<K> pinnedMapKeys(const std::string& path);

// The ids of the programs attached at `cgroup` for `type`.
std::vector<uint32_t> attachedAt(const std::string& cgroup, bpf_attach_type type);

}  // namespace palisade::test
