// libFuzzer target: the bbolt reader (agent/containers/boltdb.cpp) on a file of the
// input's bytes, with podman's lookups: a name in the registry, the container's config
// through the "ctr" bucket, a value of an inline bucket. Seed: a database podman made
// (tests/data/podman/make-fixtures.sh).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "containers/boltdb.h"

namespace fs = std::filesystem;

namespace {

struct Scratch {
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "palisade-fuzz-XXXXXX").string();
        root = mkdtemp(pattern.data());
        file = (root / "bolt_state.db").string();
    }
    ~Scratch() { fs::remove_all(root); }
    fs::path root;
    std::string file;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Scratch scratch;
    std::ofstream(scratch.file, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    try {
        if (auto id = palisade::readBoltValue(scratch.file, {"name-registry"}, "web")) {
            palisade::readBoltValue(scratch.file, {"ctr", *id}, "config");
        }
        palisade::readBoltValue(scratch.file, {"runtime-config"}, "os");
    } catch (const std::runtime_error&) {
        // what a corrupt file gives
    }
    return 0;
}
