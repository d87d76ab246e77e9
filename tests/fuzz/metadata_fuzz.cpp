// libFuzzer target: container runtime metadata (agent/containers/metadata.cpp),
// the same bytes as docker's config.v2.json and as a containerd task's OCI
// bundle config.json, read from a scratch directory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "containers/container.h"

namespace fs = std::filesystem;

namespace {

const std::string kId(64, 'b');

struct Scratch {
    Scratch() {
        std::string pattern = (fs::temp_directory_path() / "palisade-fuzz-XXXXXX").string();
        root = mkdtemp(pattern.data());
        docker = root / "docker" / "containers" / kId / "config.v2.json";
        containerd =
            root / "containerd" / "io.containerd.runtime.v2.task" / "k8s.io" / kId / "config.json";
        fs::create_directories(docker.parent_path());
        fs::create_directories(containerd.parent_path());
    }
    ~Scratch() { fs::remove_all(root); }
    fs::path root, docker, containerd;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static Scratch scratch;
    for (const fs::path& file : {scratch.docker, scratch.containerd}) {
        std::ofstream(file, std::ios::binary | std::ios::trunc)
            .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    const palisade::RuntimeRoots roots{
        (scratch.root / "docker").string(), (scratch.root / "containerd").string(),
        (scratch.root / "crio").string(), (scratch.root / "podman").string()};
    for (const char* runtime : {"docker", "containerd"}) {
        palisade::Container c;
        c.id = kId;
        c.runtime = runtime;
        palisade::readContainerMetadata(c, roots);
    }
    return 0;
}
