// Where libpod keeps a container's configuration and state (libpod/boltdb_state*.go and
// libpod/sqlite_state*.go of podman's source): the same ContainerConfig and ContainerState
// JSON in either backend, under the container's full id.
#include "containers/podman_db.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>

#include "containers/boltdb.h"

namespace palisade {

namespace {

namespace fs = std::filesystem;

// As metadata.cpp reads no file over 4 MiB: SQLite refuses to load a longer value.
constexpr int kMaxConfigBytes = 4 * 1024 * 1024;
// Long enough for one of podman's own transactions to end, short enough that a database
// held locked does not stall the agent's loop.
constexpr int kBusyTimeoutMs = 100;

// False only when the file is not there; any other trouble is for the read to report.
bool present(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 || (errno != ENOENT && errno != ENOTDIR);
}

// BoltDB: bucket "ctr", in it a bucket named by the container's id, in that the keys
// "config" and "state".
std::optional<PodmanRecord> boltRecord(const std::string& path, const std::string& id) {
    auto values = readBoltValues(path, {"ctr", id}, {"config", "state"});
    if (!values[0]) return std::nullopt;
    return PodmanRecord{path, std::move(*values[0]), std::move(values[1]).value_or("")};
}

struct SqliteClose {
    void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct SqliteFinalize {
    void operator()(sqlite3_stmt* statement) const noexcept { sqlite3_finalize(statement); }
};

// SQLite: tables ContainerConfig (ID, Name, PodID, JSON) and ContainerState (ID, State,
// ExitCode, JSON), one row per container in each. podman binds the JSON as a blob; it is
// read as bytes whatever its type.
std::optional<PodmanRecord> sqliteRecord(const std::string& path, const std::string& id) {
    sqlite3* opened = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &opened, SQLITE_OPEN_READONLY, nullptr);
    const std::unique_ptr<sqlite3, SqliteClose> db(opened);  // allocated even on failure
    auto fail = [&](int code) -> std::runtime_error {
        return std::runtime_error(path + ": " +
                                  (db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(code)));
    };
    if (rc != SQLITE_OK) throw fail(rc);
    // Whoever can write the file decides what the query runs (a view of the same name,
    // triggers, functions in the schema): no schema function is trusted, and the
    // statement is interrupted once it has run for longer than the busy wait.
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
    sqlite3_db_config(db.get(), SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(2 * kBusyTimeoutMs);
    sqlite3_progress_handler(
        db.get(), 1000,
        [](void* until) {
            return std::chrono::steady_clock::now() >
                           *static_cast<const std::chrono::steady_clock::time_point*>(until)
                       ? 1
                       : 0;
        },
        const_cast<void*>(static_cast<const void*>(&deadline)));
    sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
    sqlite3_limit(db.get(), SQLITE_LIMIT_LENGTH, kMaxConfigBytes);
    sqlite3_stmt* prepared = nullptr;
    if (int code = sqlite3_prepare_v2(db.get(),
                                      "SELECT c.JSON, s.JSON FROM ContainerConfig AS c LEFT JOIN "
                                      "ContainerState AS s ON s.ID = c.ID WHERE c.ID = ?1",
                                      -1, &prepared, nullptr);
        code != SQLITE_OK) {
        throw fail(code);
    }
    const std::unique_ptr<sqlite3_stmt, SqliteFinalize> statement(prepared);
    sqlite3_bind_text(statement.get(), 1, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
    const int step = sqlite3_step(statement.get());
    if (step == SQLITE_DONE) return std::nullopt;
    if (step != SQLITE_ROW) throw fail(step);
    auto column = [&](int i) {
        const void* bytes = sqlite3_column_blob(statement.get(), i);
        const int size = sqlite3_column_bytes(statement.get(), i);
        return bytes ? std::string(static_cast<const char*>(bytes), static_cast<size_t>(size))
                     : std::string{};
    };
    return PodmanRecord{path, column(0), column(1)};
}

}  // namespace

PodmanRecord readPodmanRecord(const std::string& graphRoot, const std::string& id) {
    const std::string bolt = (fs::path(graphRoot) / "libpod" / "bolt_state.db").string();
    const std::string sqlite = (fs::path(graphRoot) / "db.sql").string();
    const bool haveBolt = present(bolt);
    const bool haveSqlite = present(sqlite);
    if (haveBolt) {
        if (auto record = boltRecord(bolt, id)) return std::move(*record);
        if (!haveSqlite) throw std::runtime_error(bolt + ": does not list the container");
    }
    if (haveSqlite) {
        if (auto record = sqliteRecord(sqlite, id)) return std::move(*record);
        throw std::runtime_error(sqlite + ": does not list the container" +
                                 (haveBolt ? " (nor does " + bolt + ")" : ""));
    }
    throw std::runtime_error(graphRoot +
                             ": no podman database in it (libpod/bolt_state.db, db.sql)");
}

}  // namespace palisade
