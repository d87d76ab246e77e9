// Which of podman's databases a container's record is read from, and SQLite's side of it
// (agent/containers/podman_db.h). The BoltDB side: boltdb_test.cpp.
#include "containers/podman_db.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "containers/boltdb.h"
#include "podman_fixture.h"
#include "temp_dir.h"

namespace palisade {
namespace {

class PodmanDbTest : public ::testing::Test {
  protected:
    testing::TempDir tmp;
    const std::string root = tmp.path().string();
    const std::string bolt = tmp / "libpod/bolt_state.db";
    const std::string sqlite = tmp / "db.sql";
    const std::map<std::string, std::string> ids = test::podmanFixtureIds();

    void writeBolt() const { tmp.write("libpod/bolt_state.db", test::podmanBoltFixture()); }
    // The configuration podman 4.3.1 wrote for container `name`.
    std::string realConfig(const std::string& name) const {
        testing::TempDir scratch;
        scratch.write("bolt_state.db", test::podmanBoltFixture());
        return readBoltValue(scratch / "bolt_state.db", {"ctr", ids.at(name)}, "config").value();
    }
    std::string nameIn(const PodmanRecord& record) const {
        return nlohmann::json::parse(record.config).at("name");
    }
    // The error reading container `id`, "" when there was none.
    std::string errorOf(const std::string& id) const {
        try {
            readPodmanRecord(root, id);
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    }
};

TEST_F(PodmanDbTest, BoltDb) {
    writeBolt();
    const PodmanRecord record = readPodmanRecord(root, ids.at("web"));
    EXPECT_EQ(record.database, bolt);
    EXPECT_EQ(record.config, realConfig("web"));
    EXPECT_EQ(nlohmann::json::parse(record.state).at("state"), 1) << "created, never run";
    EXPECT_EQ(errorOf(std::string(64, 'a')), bolt + ": does not list the container");
}

// podman binds the JSON as a blob; it is the same read as text.
TEST_F(PodmanDbTest, Sqlite) {
    test::PodmanSqlite db(sqlite);
    db.insert(ids.at("web"), "web", realConfig("web"));
    db.insert(ids.at("db"), "db", realConfig("db"), /*asText=*/true);
    db.insertState(ids.at("web"), R"({"state": 3})");
    const PodmanRecord web = readPodmanRecord(root, ids.at("web"));
    EXPECT_EQ(web.database, sqlite);
    EXPECT_EQ(web.config, realConfig("web"));
    EXPECT_EQ(web.state, R"({"state": 3})");
    EXPECT_EQ(readPodmanRecord(root, ids.at("db")).state, "") << "no state row";
    EXPECT_EQ(nameIn(readPodmanRecord(root, ids.at("db"))), "db");
    EXPECT_EQ(errorOf(std::string(64, 'a')), sqlite + ": does not list the container");
}

// Podman keeps using a BoltDB file that exists unless containers.conf's
// database_backend says sqlite; then the BoltDB file stays behind, and db.sql has the
// containers made since.
TEST_F(PodmanDbTest, BothBoltDbFirst) {
    writeBolt();
    test::PodmanSqlite db(sqlite);
    db.insert(ids.at("web"), "web-in-sqlite", R"({"name": "web-in-sqlite"})");
    const std::string newer(64, 'e');
    db.insert(newer, "newer", R"({"name": "newer"})");
    const PodmanRecord web = readPodmanRecord(root, ids.at("web"));
    EXPECT_EQ(web.database, bolt);
    EXPECT_EQ(nameIn(web), "web");
    const PodmanRecord fromSqlite = readPodmanRecord(root, newer);
    EXPECT_EQ(fromSqlite.database, sqlite);
    EXPECT_EQ(nameIn(fromSqlite), "newer");
    EXPECT_EQ(errorOf(std::string(64, 'a')),
              sqlite + ": does not list the container (nor does " + bolt + ")");
}

TEST_F(PodmanDbTest, NoDatabase) {
    EXPECT_EQ(errorOf(ids.at("web")),
              root + ": no podman database in it (libpod/bolt_state.db, db.sql)");
    EXPECT_THROW(readPodmanRecord("/nonexistent/palisade/podman", ids.at("web")),
                 std::runtime_error);
}

// Podman 4.5 put its database in WAL mode; a reader sees what a writer that still has it
// open committed.
TEST_F(PodmanDbTest, SqliteInWalModeWhileAWriterHasItOpen) {
    test::PodmanSqlite db(sqlite, "WAL");
    db.insert(ids.at("web"), "web", realConfig("web"));
    EXPECT_EQ(nameIn(readPodmanRecord(root, ids.at("web"))), "web");
    db.insert(ids.at("db"), "db", realConfig("db"));
    EXPECT_EQ(nameIn(readPodmanRecord(root, ids.at("db"))), "db");
}

// A writer in the middle of a transaction (podman takes them exclusive): the read gives
// up after its busy timeout, and the next rescan tries again.
TEST_F(PodmanDbTest, SqliteHeldByAWriterIsAnErrorSoon) {
    test::PodmanSqlite db(sqlite);
    db.insert(ids.at("web"), "web", realConfig("web"));
    db.exec("BEGIN EXCLUSIVE");
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": database is locked");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
    db.exec("COMMIT");
    EXPECT_EQ(errorOf(ids.at("web")), "");
}

TEST_F(PodmanDbTest, SqliteThatIsNotPodmans) {
    tmp.write("db.sql", "not a database, but long enough to have a header of sorts......");
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": file is not a database");
    std::filesystem::remove(sqlite);
    { test::PodmanSqlite db(sqlite); }
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": does not list the container");
    std::filesystem::remove(sqlite);
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(sqlite.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE Other(ID TEXT)", nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": no such table: ContainerConfig");
}

// A database someone else wrote can make ContainerConfig a view that never ends: the
// read is interrupted, in bounded time, and is an error.
TEST_F(PodmanDbTest, SqliteViewThatNeverEndsIsInterrupted) {
    {
        sqlite3* db = nullptr;
        ASSERT_EQ(sqlite3_open(sqlite.c_str(), &db), SQLITE_OK);
        ASSERT_EQ(sqlite3_exec(db,
                               "CREATE TABLE ContainerState(ID TEXT, JSON TEXT);"
                               "CREATE VIEW ContainerConfig AS WITH RECURSIVE n(ID, JSON) AS "
                               "(SELECT 'x', '{}' UNION ALL SELECT ID, JSON FROM n) "
                               "SELECT ID, JSON FROM n",
                               nullptr, nullptr, nullptr),
                  SQLITE_OK);
        sqlite3_close(db);
    }
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": interrupted");
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

// As metadata.cpp reads no file over 4 MiB, SQLite loads no longer value.
TEST_F(PodmanDbTest, SqliteValueOver4MiB) {
    test::PodmanSqlite db(sqlite);
    db.insert(ids.at("web"), "web", R"({"name": ")" + std::string(4 * 1024 * 1024, 'x') + "\"}");
    EXPECT_EQ(errorOf(ids.at("web")), sqlite + ": string or blob too big");
}

}  // namespace
}  // namespace palisade
