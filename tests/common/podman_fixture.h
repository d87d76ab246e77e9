// The podman database the tests read: the BoltDB file the real podman made
// (tests/data/podman/, make-fixtures.sh there).
#pragma once

#include <zlib.h>

#include <fstream>
#include <map>
#include <stdexcept>
#include <string>

namespace palisade::test {

// tests/data/podman/bolt_state.db.gz unpacked: podman 4.3.1's database of 48 containers.
inline std::string podmanBoltFixture() {
    const std::string path = PALISADE_SOURCE_DIR "/tests/data/podman/bolt_state.db.gz";
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw std::runtime_error("cannot open " + path);
    std::string bytes;
    char chunk[65536];
    int n;
    while ((n = gzread(gz, chunk, sizeof chunk)) > 0) bytes.append(chunk, static_cast<size_t>(n));
    gzclose(gz);
    if (n < 0) throw std::runtime_error("cannot unpack " + path);
    return bytes;
}

// Name -> id of each container in the fixture (tests/data/podman/containers.txt).
inline std::map<std::string, std::string> podmanFixtureIds() {
    std::ifstream in(PALISADE_SOURCE_DIR "/tests/data/podman/containers.txt");
    std::map<std::string, std::string> ids;
    std::string id, name;
    while (in >> id >> name) ids[name] = id;
    if (ids.size() != 48) throw std::runtime_error("tests/data/podman/containers.txt: not 48");
    return ids;
}

}  // namespace palisade::test
