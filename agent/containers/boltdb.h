// A read-only lookup in a bbolt database file (go.etcd.io/bbolt, file format version 2),
// the format of podman's libpod state (agent/containers/podman_db.cpp). Written for a
// file another program may be writing at the same time, and for one that is corrupt.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace palisade {

// The value stored under `key` in the bucket that `buckets` names (each one a bucket of
// the one before, the first one a bucket of the root), as of the last transaction
// committed to the bbolt file at `path`; std::nullopt when one of the buckets or the key
// is not there, or when `key` names a bucket.
//
// Neither locks nor writes the file. bbolt writes every change to free pages, so the
// pages of the last transaction committed stay as they are until the transaction after
// the next one writes: a lookup during which no transaction committed read consistent
// pages, and one during which one did is tried again, 3 times in all. Every page id,
// offset and length is checked against the file, a lookup reads at most 64 pages of at
// most 4 MiB each, and a page reached twice is an error: a corrupt file gives an error,
// never a hang.
//
// Throws std::runtime_error("<path>: <why>") when the file cannot be read, is over
// 1 GiB, is not a bbolt file, is corrupt, or kept changing while it was read.
std::optional<std::string> readBoltValue(const std::string& path,
                                         const std::vector<std::string>& buckets,
                                         const std::string& key);

// readBoltValue of each of `keys` in the same bucket, all as of one transaction.
std::vector<std::optional<std::string>> readBoltValues(const std::string& path,
                                                       const std::vector<std::string>& buckets,
                                                       const std::vector<std::string>& keys);

}  // namespace palisade
