// libFuzzer target: container runtime metadata (agent/containers/metadata.cpp),
// the same bytes as docker's config.v2.json, as a containerd task's OCI
// bundle config.json and as a podman container's state in podman's SQLite
// database, read from a scratch directory.
#include <sqlite3.h>
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
        fs::create_directories(root / "podman");
        sqlite3_open((root / "podman" / "db.sql").c_str(), &podman);
        sqlite3_exec(podman,
                     "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"
                     "CREATE TABLE ContainerConfig(ID TEXT, Name TEXT, PodID TEXT, JSON TEXT);"
                     "CREATE TABLE ContainerState(ID TEXT, State INTEGER, ExitCode INTEGER, "
                     "JSON TEXT);",
                     nullptr, nullptr, nullptr);
        const std::string id = "'" + kId + "'";
        sqlite3_exec(podman,
                     ("INSERT INTO ContainerConfig VALUES (" + id + ", 'x', NULL, '{}');" +
                      "INSERT INTO ContainerState VALUES (" + id + ", 3, NULL, '{}');")
                         .c_str(),
                     nullptr, nullptr, nullptr);
        sqlite3_prepare_v2(podman, "UPDATE ContainerState SET JSON = ?1", -1, &setState, nullptr);
    }
    ~Scratch() {
        sqlite3_finalize(setState);
        sqlite3_close(podman);
        fs::remove_all(root);
    }
    // The input as the podman container's state.
    void writeState(const uint8_t* data, size_t size) {
        sqlite3_reset(setState);
        sqlite3_bind_blob(setState, 1, data, static_cast<int>(size), SQLITE_TRANSIENT);
        sqlite3_step(setState);
    }
    fs::path root, docker, containerd;
    sqlite3* podman = nullptr;
    sqlite3_stmt* setState = nullptr;
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
    scratch.writeState(data, size);
    for (const char* runtime : {"docker", "containerd", "podman"}) {
        palisade::Container c;
        c.id = kId;
        c.runtime = runtime;
        palisade::readContainerMetadata(c, roots);
    }
    return 0;
}
