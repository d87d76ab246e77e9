// The podman databases the tests read: the BoltDB file the real podman made
// (tests/data/podman/, make-fixtures.sh there), and SQLite ones made here with the table
// podman reads a container's configuration from.
#pragma once

#include <sqlite3.h>
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

// A connection to a new SQLite database holding podman's ContainerConfig and
// ContainerState tables: the columns and constraints of libpod/sqlite_state_internal.go in
// podman 4.5 to 5.x (schema version 1), less its foreign keys, which name tables a reader never
// touches. Open until destroyed, as podman's is while it works.
class PodmanSqlite {
  public:
    explicit PodmanSqlite(const std::string& path, const std::string& journalMode = "DELETE") {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) fail("open " + path);
        exec("PRAGMA journal_mode = " + journalMode);
        exec(
            "CREATE TABLE ContainerConfig(ID TEXT PRIMARY KEY NOT NULL, "
            "Name TEXT UNIQUE NOT NULL, PodID TEXT, JSON TEXT NOT NULL)");
        exec(
            "CREATE TABLE ContainerState(ID TEXT PRIMARY KEY NOT NULL, "
            "State INTEGER NOT NULL, ExitCode INTEGER, JSON TEXT NOT NULL)");
    }
    ~PodmanSqlite() { sqlite3_close(db_); }
    PodmanSqlite(const PodmanSqlite&) = delete;
    PodmanSqlite& operator=(const PodmanSqlite&) = delete;

    void exec(const std::string& sql) {
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) fail(sql);
    }

    // A container's configuration: podman binds the JSON as a blob (Go's []byte); `asText`
    // stores it as text.
    void insert(const std::string& id, const std::string& name, const std::string& json,
                bool asText = false) {
        write("INSERT INTO ContainerConfig VALUES (?1, ?2, NULL, ?3)", id, name, json, asText);
    }
    // Its state (running, 3), as a blob.
    void insertState(const std::string& id, const std::string& json) {
        write("INSERT INTO ContainerState VALUES (?1, 3, NULL, ?3)", id, "", json, false);
    }

  private:
    // `sql` with id, name and json bound to ?1, ?2 and ?3.
    void write(const char* sql, const std::string& id, const std::string& name,
               const std::string& json, bool asText) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) fail("prepare");
        sqlite3_bind_text(s, 1, id.data(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
        sqlite3_bind_text(s, 2, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
        if (asText) {
            sqlite3_bind_text(s, 3, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
        } else {
            sqlite3_bind_blob(s, 3, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
        }
        const int rc = sqlite3_step(s);
        sqlite3_finalize(s);
        if (rc != SQLITE_DONE) fail(std::string(sql) + " of " + id);
    }
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error(what + ": " + sqlite3_errmsg(db_));
    }
    sqlite3* db_ = nullptr;
};

}  // namespace palisade::test
