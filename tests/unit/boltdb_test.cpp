// The read-only bbolt reader (agent/containers/boltdb.h) on the database the real podman
// 4.3.1 made (tests/data/podman/), and on corrupt copies of it made here.
#include "containers/boltdb.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "podman_fixture.h"
#include "temp_dir.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

template <typename T>
T get(const std::string& bytes, uint64_t at) {
    T value;
    std::memcpy(&value, bytes.data() + at, sizeof value);
    return value;
}

template <typename T>
void put(std::string& bytes, uint64_t at, T value) {
    std::memcpy(bytes.data() + at, &value, sizeof value);
}

// Where the newest transaction's tree starts (the format: agent/containers/boltdb.cpp).
struct Layout {
    uint64_t pageSize, newestMeta, olderMeta, root, pages;
    uint64_t rootAt() const { return root * pageSize; }
    uint64_t metaAt(uint64_t meta) const { return meta * pageSize + 16; }
};

Layout layoutOf(const std::string& bytes) {
    Layout l{};
    l.pageSize = get<uint32_t>(bytes, 16 + 8);
    const bool first = get<uint64_t>(bytes, 16 + 48) > get<uint64_t>(bytes, l.pageSize + 16 + 48);
    l.newestMeta = first ? 0 : 1;
    l.olderMeta = first ? 1 : 0;
    l.root = get<uint64_t>(bytes, l.metaAt(l.newestMeta) + 16);
    l.pages = get<uint64_t>(bytes, l.metaAt(l.newestMeta) + 40);
    return l;
}

class BoltDbTest : public ::testing::Test {
  protected:
    testing::TempDir tmp;
    const std::string path = tmp / "bolt_state.db";
    const std::string fixture = test::podmanBoltFixture();
    const std::map<std::string, std::string> ids = test::podmanFixtureIds();
    const Layout layout = layoutOf(fixture);

    void write(const std::string& bytes) const {
        std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    }
    std::optional<std::string> config(const std::string& name) const {
        return readBoltValue(path, {"ctr", ids.at(name)}, "config");
    }
    // The error reading web's config from `bytes` (std::nullopt: the file as it is), ""
    // when there was none.
    std::string errorOf(const std::optional<std::string>& bytes) const {
        if (bytes) write(*bytes);
        try {
            config("web");
        } catch (const std::runtime_error& e) {
            return e.what();
        }
        return "";
    }
};

// The fixture is what these tests are about: a root that is a branch page, and the
// "ctr" bucket with a branch of its own once it holds some 40 containers.
TEST_F(BoltDbTest, EveryContainerOfPodmansDatabase) {
    ASSERT_EQ(get<uint16_t>(fixture, layout.rootAt() + 8), 0x01) << "the root is a branch page";
    write(fixture);
    for (const auto& [name, id] : ids) {
        const std::optional<std::string> value = config(name);
        ASSERT_TRUE(value) << name;
        EXPECT_GT(value->size(), layout.pageSize) << name << ": spans overflow pages";
        const auto json = nlohmann::json::parse(*value);
        EXPECT_EQ(json.at("name"), name);
        // all-ctrs: a bucket of one leaf page, id -> name.
        EXPECT_EQ(readBoltValue(path, {"all-ctrs"}, id), name);
    }
    const auto web = nlohmann::json::parse(*config("web"));
    EXPECT_EQ(web.at("labels"), (nlohmann::json{{"app", "shop"}, {"tier", "front"}}));
}

// Small buckets are kept inline, in their parent's value.
TEST_F(BoltDbTest, InlineBuckets) {
    write(fixture);
    EXPECT_EQ(readBoltValue(path, {"runtime-config"}, "os"), "linux");
    EXPECT_EQ(readBoltValue(path, {"ctr", ids.at("web"), "dependencies"}, "x"), std::nullopt)
        << "an empty inline bucket";
    EXPECT_EQ(readBoltValue(path, {"name-registry"}, "web"), ids.at("web"))
        << "48 names do not fit inline: a bucket with a page of its own";
}

TEST_F(BoltDbTest, WhatIsNotThereIsNullopt) {
    write(fixture);
    const std::string web = ids.at("web");
    EXPECT_EQ(readBoltValue(path, {"nope"}, "config"), std::nullopt);
    EXPECT_EQ(readBoltValue(path, {"ctr", std::string(64, '0')}, "config"), std::nullopt);
    EXPECT_EQ(readBoltValue(path, {"ctr", std::string(64, 'f')}, "config"), std::nullopt);
    EXPECT_EQ(readBoltValue(path, {"ctr", web}, "nope"), std::nullopt);
    EXPECT_EQ(readBoltValue(path, {"ctr"}, web), std::nullopt) << "a bucket, not a value";
    EXPECT_EQ(readBoltValue(path, {"ctr", web, "config"}, "x"), std::nullopt)
        << "a value, not a bucket";
}

TEST_F(BoltDbTest, FilesThatAreNoBboltDatabase) {
    const std::string tooShort =
        ": not a bbolt database (meta page 0: the file ends before it; meta page 1: the file "
        "ends before it)";
    EXPECT_EQ(errorOf(""), path + tooShort);
    EXPECT_EQ(errorOf(R"({"name": "web"})"), path + tooShort);
    EXPECT_EQ(errorOf(std::string(3 * 4096, 'x')),
              path +
                  ": not a bbolt database (meta page 0: not a meta page; meta page 1: not a "
                  "meta page)");

    fs::remove(path);
    EXPECT_EQ(errorOf(std::nullopt), path + ": No such file or directory");
    fs::create_directory(path);
    EXPECT_EQ(errorOf(std::nullopt), path + ": not a regular file");
    fs::remove(path);
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    EXPECT_EQ(errorOf(std::nullopt), path + ": not a regular file") << "and no wait for a writer";
    fs::remove(path);
    write("");
    fs::resize_file(path, (uint64_t{1} << 30) + 1);  // sparse
    EXPECT_EQ(errorOf(std::nullopt), path + ": over 1 GiB");
}

TEST_F(BoltDbTest, TruncatedFile) {
    const std::string truncated =
        path + ": truncated: transaction " +
        std::to_string(get<uint64_t>(fixture, layout.metaAt(layout.newestMeta) + 48)) + " uses " +
        std::to_string(layout.pages) + " pages of " + std::to_string(layout.pageSize) + " bytes";
    EXPECT_THAT(errorOf(fixture.substr(0, 65536)),
                AllOf(StartsWith(truncated), HasSubstr("the file holds 65536 bytes")));
    EXPECT_THAT(errorOf(fixture.substr(0, 100)), StartsWith(truncated));
    EXPECT_THAT(errorOf(fixture.substr(0, fixture.size() / 2)), StartsWith(truncated));
}

// bbolt's two meta pages: a torn or corrupt newest one leaves the transaction before.
TEST_F(BoltDbTest, MetaPages) {
    std::string bytes = fixture;
    auto breakChecksum = [&](uint64_t meta) {
        const uint64_t at = layout.metaAt(meta) + 56;
        put<uint8_t>(bytes, at, get<uint8_t>(bytes, at) ^ 0xff);
    };
    breakChecksum(layout.newestMeta);
    EXPECT_EQ(errorOf(bytes), "") << "web is in the older transaction too";
    breakChecksum(layout.olderMeta);
    EXPECT_EQ(errorOf(bytes), path +
                                  ": not a bbolt database (meta page 0: checksum mismatch; "
                                  "meta page 1: checksum mismatch)");

    bytes = fixture;
    put<uint32_t>(bytes, layout.metaAt(0) + 4, 3);
    put<uint32_t>(bytes, layout.metaAt(1), 0xdeadbeef);
    EXPECT_EQ(errorOf(bytes), path +
                                  ": not a bbolt database (meta page 0: format version 3, "
                                  "not 2; meta page 1: no bbolt magic number)");
}

// Corrupt pages on the lookup's path: the root page of the newest transaction.
TEST_F(BoltDbTest, CorruptPages) {
    const std::string root = path + ": page " + std::to_string(layout.root);
    const uint64_t at = layout.rootAt();
    const uint16_t count = get<uint16_t>(fixture, at + 10);
    auto corrupt = [&](auto change) {
        std::string bytes = fixture;
        change(bytes);
        return errorOf(bytes);
    };
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint64_t>(b, at, 7777); }),
              root + " says it is page 7777");
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint16_t>(b, at + 8, 0x10); }),
              root + ": neither a branch nor a leaf page (flags 0x10)");
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint16_t>(b, at + 10, 0xffff); }),
              root + ": 65535 elements do not fit in it");
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint16_t>(b, at + 10, 0); }),
              root + ": an empty branch page");
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint32_t>(b, at + 16, 0xfffffff0); }),
              root + ": an element points outside the page");
    EXPECT_EQ(corrupt([&](std::string& b) { put<uint32_t>(b, at + 12, 0xffffffff); }),
              root + " runs past the last page (4294967295 overflow pages)");
    const std::string range = " is out of range (2 to " + std::to_string(layout.pages - 1) + ")";
    auto children = [&](uint64_t child) {
        return corrupt([&](std::string& b) {
            for (uint64_t i = 0; i < count; ++i) put<uint64_t>(b, at + 16 + i * 16 + 8, child);
        });
    };
    EXPECT_EQ(children(999999), path + ": page 999999" + range);
    EXPECT_EQ(children(1), path + ": page 1" + range) << "a meta page";
    EXPECT_EQ(children(layout.root), root + " is reached twice (a cycle)");
}

// A chain of distinct branch pages, each the only child of the one before.
TEST_F(BoltDbTest, LookupsAreBoundedInPages) {
    std::string bytes = fixture;
    const uint64_t first = 100, chain = 70;
    ASSERT_LT(first + chain, layout.pages);
    const uint64_t root = layout.rootAt();
    for (uint64_t i = 0; i < get<uint16_t>(bytes, root + 10); ++i) {
        put<uint64_t>(bytes, root + 16 + i * 16 + 8, first);
    }
    for (uint64_t id = first; id < first + chain; ++id) {
        const uint64_t at = id * layout.pageSize;
        put<uint64_t>(bytes, at, id);
        put<uint16_t>(bytes, at + 8, 0x01);  // branch
        put<uint16_t>(bytes, at + 10, 1);
        put<uint32_t>(bytes, at + 12, 0);
        put<uint32_t>(bytes, at + 16, 16);  // key: the empty one, after the element
        put<uint32_t>(bytes, at + 20, 0);
        put<uint64_t>(bytes, at + 24, id + 1);
    }
    EXPECT_EQ(errorOf(bytes), path + ": a lookup reaches over 64 pages");
}

// Bytes of page headers and element tables changed at random, a few at a time: every
// read returns or throws std::runtime_error (a crash or a hang fails the test run).
// libFuzzer does more (tests/fuzz/boltdb_fuzz.cpp).
TEST_F(BoltDbTest, RandomCorruptionNeverCrashes) {
    write(fixture);
    const int fd = open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    std::mt19937_64 random(20);
    std::uniform_int_distribution<uint64_t> page(0, layout.pages - 1);
    int errors = 0, found = 0;
    for (int round = 0; round < 3000; ++round) {
        std::vector<std::pair<uint64_t, char>> changed;
        for (int i = 0; i < 1 + round % 4; ++i) {
            const uint64_t start = page(random) * layout.pageSize;
            const uint64_t structure = std::min<uint64_t>(
                layout.pageSize, 16 + 16 * uint64_t{get<uint16_t>(fixture, start + 10)});
            const uint64_t at = start + random() % structure;
            const char byte = static_cast<char>(random());
            changed.emplace_back(at, fixture[at]);
            ASSERT_EQ(pwrite(fd, &byte, 1, static_cast<off_t>(at)), 1);
        }
        try {
            if (config("web")) ++found;
        } catch (const std::runtime_error& e) {
            EXPECT_THAT(e.what(), StartsWith(path + ": "));
            ++errors;
        }
        for (auto it = changed.rbegin(); it != changed.rend(); ++it) {
            ASSERT_EQ(pwrite(fd, &it->second, 1, static_cast<off_t>(it->first)), 1);
        }
    }
    close(fd);
    EXPECT_GT(found, 0);
    EXPECT_GT(errors, 0);
}

}  // namespace
}  // namespace palisade
