// The configuration podman keeps of a container, read from podman's own database: podman
// runs no service that could be asked (docs/reference/state-and-lifecycle.md#podmans-database).
#pragma once

#include <string>

namespace palisade {

struct PodmanRecord {
    std::string database;  // the file it was read from
    std::string config;    // libpod's ContainerConfig of the container, as JSON text
    std::string state;     // its ContainerState, as JSON text ("" when there is none)
};

// The record of container `id` (its configuration and state) in the libpod database below
// podman's graph root `graphRoot` (storage.conf's graphroot): <graphRoot>/libpod/bolt_state.db
// (BoltDB) or <graphRoot>/db.sql (SQLite, podman 4.5 and later). Podman uses the BoltDB file when
// it exists, unless containers.conf's database_backend says sqlite: the BoltDB file is read first,
// and db.sql when the BoltDB file is missing or does not list the container. Both are opened
// read-only, and neither is locked beyond SQLite's read of one row (waiting at most 100 ms for a
// writer to finish).
//
// Throws std::runtime_error("<file>: <why>") when no database is there, one cannot be
// read, or none lists the container.
PodmanRecord readPodmanRecord(const std::string& graphRoot, const std::string& id);

}  // namespace palisade
