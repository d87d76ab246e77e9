// docs/reference/enforcement.md#reload live reload on the real kernel: policy files dropped, moved,
// deleted or swapped the ConfigMap way are in force without a signal; a bad
// file is rejected alone; and 100 reloads under continuous traffic never give
// a verdict that neither generation would give.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <sstream>
#include <thread>

#include "agent_process.h"
#include "harness.h"
#include "test_keys.h"

namespace palisade::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using nlohmann::json;

// Destinations on the bridge, all with a listener on 443.
constexpr const char* kCommon = "198.18.0.200";  // allowed by both generations
constexpr const char* kOnlyA = "198.18.1.1";     // allowed by A only
constexpr const char* kOnlyB = "198.18.1.2";     // allowed by B only
constexpr const char* kNone = "198.18.1.3";      // allowed by neither

// A policy for client-1 allowing `hosts` on 443, plus `filler` /32s that no
// traffic goes to (a bigger generation takes longer to write and retire), at
// metadata.version `version` (0: none).
std::string policy(const std::string& name, const std::vector<std::string>& hosts, int filler = 0,
                   int version = 0) {
    std::string cidrs;
    for (const auto& h : hosts) cidrs += (cidrs.empty() ? "\"" : ", \"") + h + "/32\"";
    for (int i = 0; i < filler; i++) {
        cidrs +=
            ", \"198.19." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "/32\"";
    }
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: " + name +
           (version ? ", version: " + std::to_string(version) : "") +
           "}\nspec:\n  selector: {name: client-1}\n  egress:\n    - toCIDR: [" + cidrs +
           "]\n      ports: [{port: 443, protocol: TCP}]\n";
}

void writeFile(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

std::string readFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

class Reload : public ::testing::Test {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        for (const char* ip : {kCommon, kOnlyA, kOnlyB, kNone}) {
            sandbox_->addExternalAddress(std::string(ip) + "/32");
        }
        server_ = std::make_unique<Server>(sandbox_->listenOnBridge(443));
        client_ = &sandbox_->addContainer("client-1");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->describe(*client_);
    }
    void TearDown() override {
        agent_.reset();
        server_.reset();
        sandbox_.reset();
    }

    fs::path policyDir() const { return fs::path(agent_->dir()) / "policies.d"; }
    // signing.required with `keys`, the record in the agent's directory.
    std::string requireSignatures(const KeyPair& keys) const {
        return "signing:\n  publicKeys: [" + keys.publicPem +
               "]\n  required: true\n  recordDir: " + agent_->dir() + "/record\n";
    }

    // The generation of the newest policy-applied event (0 if none).
    uint64_t generation() {
        const auto& all = agent_->events();
        for (; scanned_ < all.size(); scanned_++) {
            const auto& e = all[scanned_];
            if (e["event"]["action"] == "policy-applied") generation_ = e["palisade"]["generation"];
        }
        return generation_;
    }
    // Waits (bounded) until a generation newer than `than` is in force.
    uint64_t waitGeneration(uint64_t than, std::chrono::milliseconds timeout = 3s) {
        auto end = std::chrono::steady_clock::now() + timeout;
        while (generation() <= than && std::chrono::steady_clock::now() < end) {
            std::this_thread::sleep_for(2ms);
        }
        return generation();
    }
    // Polls (bounded) until connecting to `ip` gives `expected`.
    bool waitVerdict(const char* ip, int expected) {
        for (int i = 0; i < 100; i++) {
            if (client_->connectErrno(ip, 443) == expected) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    std::unique_ptr<Sandbox> sandbox_;
    std::unique_ptr<Server> server_;
    Container* client_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
    size_t scanned_ = 0;  // events looked at by generation()
    uint64_t generation_ = 0;
};

TEST_F(Reload, FileDroppedIntoTheDirectoryIsInForce) {
    agent_->writePolicy("a.yaml", policy("a", {kCommon}));
    agent_->start();
    ASSERT_EQ(client_->connectErrno(kOnlyA, 443), EPERM);
    const uint64_t before = generation();

    const std::string text = policy("extra", {kOnlyA});
    writeFile(policyDir() / "extra.yaml", text);
    EXPECT_TRUE(waitVerdict(kOnlyA, 0));
    json applied = agent_->waitForEvent([&](const json& e) {
        return e["event"]["action"] == "policy-applied" &&
               e["palisade"]["file"].get<std::string>().ends_with("/extra.yaml");
    });
    ASSERT_FALSE(applied.is_null());
    EXPECT_GT(applied["palisade"]["generation"].get<uint64_t>(), before);
    EXPECT_EQ(applied["palisade"]["policies"], json::array({"extra"}));
    EXPECT_EQ(applied["palisade"]["sha256"].get<std::string>().size(), 64u);
}

TEST_F(Reload, FileMovedInOrDeletedIsInForce) {
    agent_->writePolicy("a.yaml", policy("a", {kCommon}));
    agent_->start();
    const fs::path staged = fs::path(agent_->dir()) / "staged.yaml";
    writeFile(staged, policy("moved", {kOnlyB}));
    fs::rename(staged, policyDir() / "moved.yaml");  // IN_MOVED_TO, no close_write
    EXPECT_TRUE(waitVerdict(kOnlyB, 0));
    fs::remove(policyDir() / "moved.yaml");
    EXPECT_TRUE(waitVerdict(kOnlyB, EPERM));
    EXPECT_EQ(client_->connectErrno(kCommon, 443), 0);
}

// The Kubernetes ConfigMap volume: files are symlinks through `..data`, which
// is swapped atomically to a new timestamped directory on every update.
TEST_F(Reload, ConfigMapSymlinkSwapIsInForce) {
    const fs::path dir = policyDir();
    fs::create_directory(dir / "..2026_11_23_10_00_00.1");
    writeFile(dir / "..2026_11_23_10_00_00.1/policy.yaml", policy("cm", {kOnlyA}));
    fs::create_directory_symlink("..2026_11_23_10_00_00.1", dir / "..data");
    fs::create_symlink("..data/policy.yaml", dir / "policy.yaml");
    agent_->start();
    ASSERT_EQ(client_->connectErrno(kOnlyA, 443), 0);
    ASSERT_EQ(client_->connectErrno(kOnlyB, 443), EPERM);

    fs::create_directory(dir / "..2026_11_23_10_05_00.2");
    writeFile(dir / "..2026_11_23_10_05_00.2/policy.yaml", policy("cm", {kOnlyB}));
    fs::create_directory_symlink("..2026_11_23_10_05_00.2", dir / "..data_tmp");
    fs::rename(dir / "..data_tmp", dir / "..data");
    fs::remove_all(dir / "..2026_11_23_10_00_00.1");
    EXPECT_TRUE(waitVerdict(kOnlyB, 0));
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), EPERM);
}

TEST_F(Reload, InvalidFileIsRejectedAloneAndItsLastGoodVersionStays) {
    agent_->writePolicy("a.yaml", policy("a", {kOnlyA}));
    agent_->writePolicy("b.yaml", policy("b", {kCommon}));
    agent_->start();
    ASSERT_EQ(client_->connectErrno(kOnlyA, 443), 0);

    writeFile(policyDir() / "a.yaml",
              "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\n"
              "metadata: {name: a}\nspec:\n  selector: {name: client-1}\n"
              "  egress:\n    - toCIDR: [\"198.18.1.300/32\"]\n");
    json rejected = agent_->waitForEvent(
        [](const json& e) { return e["event"]["action"] == "policy-rejected"; });
    ASSERT_FALSE(rejected.is_null());
    EXPECT_TRUE(rejected["palisade"]["file"].get<std::string>().ends_with("/a.yaml"));
    EXPECT_NE(rejected["palisade"]["error"].get<std::string>().find("a.yaml:7:"), std::string::npos)
        << rejected.dump();
    // The other file's change still lands; a.yaml's last good version stays.
    writeFile(policyDir() / "b.yaml", policy("b", {kCommon, kOnlyB}));
    EXPECT_TRUE(waitVerdict(kOnlyB, 0));
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), 0);
    EXPECT_EQ(client_->connectErrno(kNone, 443), EPERM);
}

TEST_F(Reload, BurstOfChangesIsCoalesced) {
    agent_->writePolicy("a.yaml", policy("a", {kCommon}));
    agent_->start();
    const uint64_t before = generation();
    for (int i = 0; i < 20; i++) {
        writeFile(policyDir() / ("burst-" + std::to_string(i) + ".yaml"),
                  policy("burst-" + std::to_string(i), {kCommon}));
    }
    uint64_t after = waitGeneration(before);
    std::this_thread::sleep_for(300ms);  // anything still to come
    after = generation();
    EXPECT_GT(after, before);
    EXPECT_LE(after - before, 3u) << "20 files written at once became " << after - before
                                  << " reloads";
}

// docs/reference/configuration.md signing: with `required`, only files with a valid FILE.sig by a
// configured key are in force; the CLI signs and verifies.
TEST_F(Reload, OnlySignedPoliciesAreInForceWhenRequired) {
    const KeyPair keys = makeKeyPair(agent_->dir(), "ops");
    agent_->extraConfig() = requireSignatures(keys);
    const std::string a = (policyDir() / "a.yaml").string();
    agent_->writePolicy("a.yaml", policy("a", {kOnlyA}));
    RunResult signing = run({PALISADE_BINARY, "policy", "sign", "--key", keys.privatePem, a});
    ASSERT_TRUE(signing.ok()) << signing.output;
    RunResult verified = run({PALISADE_BINARY, "policy", "verify", "--pubkey", keys.publicPem, a});
    EXPECT_TRUE(verified.ok()) << verified.output;
    agent_->writePolicy("b.yaml", policy("b", {kOnlyB}));  // never signed
    agent_->start();
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), 0);
    EXPECT_EQ(client_->connectErrno(kOnlyB, 443), EPERM);
    json unsignedFile = agent_->waitForEvent([](const json& e) {
        return e["event"]["action"] == "policy-rejected" &&
               e["palisade"]["file"].get<std::string>().ends_with("/b.yaml");
    });
    ASSERT_FALSE(unsignedFile.is_null());
    EXPECT_NE(unsignedFile["palisade"]["error"].get<std::string>().find("unsigned"),
              std::string::npos);

    // Tampering: the file changes, its signature does not.
    const size_t before = agent_->events().size();
    writeFile(a, policy("a", {kOnlyA, kNone}));
    EXPECT_EQ(run({PALISADE_BINARY, "policy", "verify", "--pubkey", keys.publicPem, a}).exitCode,
              1);
    json tampered = agent_->waitForEvent(
        [](const json& e) {
            return e["event"]["action"] == "policy-rejected" &&
                   e["palisade"]["file"].get<std::string>().ends_with("/a.yaml");
        },
        3s, before);
    ASSERT_FALSE(tampered.is_null());
    EXPECT_NE(tampered["palisade"]["error"].get<std::string>().find("does not match"),
              std::string::npos);
    EXPECT_EQ(client_->connectErrno(kNone, 443), EPERM);  // the last good a.yaml stays
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), 0);
}

// docs/signing.md#versions: with `required`, an older signed version of a file is refused, and a
// signed file deleted stays in force until a signed tombstone takes its place; a rollback made
// while the agent is stopped is refused when it starts (the record outlives it).
TEST_F(Reload, SignedRollbacksAndDeletionsAreRefusedAcrossARestart) {
    const KeyPair keys = makeKeyPair(agent_->dir(), "ops");
    agent_->extraConfig() = requireSignatures(keys);
    const fs::path a = policyDir() / "a.yaml";
    const fs::path sig = a.string() + ".sig";
    auto sign = [&](const std::string& yaml) {
        writeFile(a, yaml);
        RunResult signing =
            run({PALISADE_BINARY, "policy", "sign", "--key", keys.privatePem, a.string()});
        ASSERT_TRUE(signing.ok()) << signing.output;
    };
    auto rejected = [&](const std::string& why, size_t from) {
        return !agent_
                    ->waitForEvent(
                        [&](const json& e) {
                            return e["event"]["action"] == "policy-rejected" &&
                                   e["palisade"]["error"].get<std::string>().find(why) !=
                                       std::string::npos;
                        },
                        3s, from)
                    .is_null();
    };
    // Version 1 allowed kOnlyB too, and whoever can write the directory kept it.
    sign(policy("a", {kOnlyA, kOnlyB}, 0, 1));
    const std::string oldText = readFile(a), oldSig = readFile(sig);
    auto rollBack = [&] {
        writeFile(sig, oldSig);
        writeFile(a, oldText);
    };
    sign(policy("a", {kOnlyA}, 0, 2));
    agent_->start();
    EXPECT_EQ(client_->connectErrno(kOnlyB, 443), EPERM);

    size_t before = agent_->events().size();
    rollBack();
    EXPECT_TRUE(rejected("rollback refused", before));
    EXPECT_EQ(client_->connectErrno(kOnlyB, 443), EPERM);

    before = agent_->events().size();
    fs::remove(a);
    fs::remove(sig);
    EXPECT_TRUE(rejected("deleted without a signed tombstone", before));
    EXPECT_EQ(client_->connectErrno(kNone, 443), EPERM) << "a is no longer enforced";
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), 0);

    agent_->stop();
    rollBack();
    before = agent_->events().size();
    agent_->start();
    EXPECT_TRUE(rejected("rollback refused", before));
    EXPECT_EQ(client_->connectErrno(kOnlyB, 443), EPERM);
    EXPECT_EQ(client_->connectErrno(kOnlyA, 443), 0);

    // How the operator deletes it.
    const uint64_t inForce = generation();
    sign("apiVersion: palisade.dev/v1\nkind: PolicyTombstone\nmetadata: {name: a, version: 3}\n");
    waitGeneration(inForce);
    EXPECT_EQ(client_->connectErrno(kNone, 443), 0) << "client-1 is unmatched: audited, allowed";
}

// docs/reference/enforcement.md#reload: 100 reloads alternating two policies while the container
// connects without pause. Both generations allow kCommon and deny kNone, so a connect there with
// another verdict came from neither (a gap or a mix); kOnlyA and kOnlyB must flip, showing that
// both generations really were in force.
TEST_F(Reload, HundredReloadsUnderTrafficGiveOnlyVerdictsOfEitherGeneration) {
    const std::string a = policy("p", {kCommon, kOnlyA}, 5000);
    const std::string b = policy("p", {kCommon, kOnlyB}, 5000);
    agent_->writePolicy("p.yaml", a);
    agent_->start();
    const fs::path staged = fs::path(agent_->dir()) / "p.yaml.new";

    // The traffic runs in a forked child: it stops when this file appears.
    const std::string stop = agent_->dir() + "/stop-traffic";
    auto traffic = std::async(std::launch::async, [&] {
        return client_->inContainerStr(
            [stop] {
                // Counts: attempts, wrong verdicts, kOnlyA allowed, kOnlyA denied.
                long n = 0, wrong = 0, aAllowed = 0, aDenied = 0;
                std::string detail;
                while (access(stop.c_str(), F_OK) != 0 && n < 400000) {
                    int common = connectErrnoHere(kCommon, 443);
                    int none = connectErrnoHere(kNone, 443);
                    int onlyA = connectErrnoHere(kOnlyA, 443);
                    int onlyB = connectErrnoHere(kOnlyB, 443);
                    auto check = [&](const char* ip, int err, bool ok) {
                        if (ok) return;
                        if (++wrong <= 5) detail += std::string(" ") + ip + ":" + strerror(err);
                    };
                    check(kCommon, common, common == 0);
                    check(kNone, none, none == EPERM);
                    check(kOnlyA, onlyA, onlyA == 0 || onlyA == EPERM);
                    check(kOnlyB, onlyB, onlyB == 0 || onlyB == EPERM);
                    (onlyA == 0 ? aAllowed : aDenied)++;
                    n += 4;
                }
                std::ostringstream out;
                out << n << " " << wrong << " " << aAllowed << " " << aDenied << detail;
                return out.str();
            },
            120s);
    });
    uint64_t g = generation();
    for (int i = 0; i < 100; i++) {
        writeFile(staged, i % 2 ? a : b);
        fs::rename(staged, policyDir() / "p.yaml");
        uint64_t next = waitGeneration(g);
        EXPECT_GT(next, g) << "reload " << i << " never took effect";
        g = next;
    }
    writeFile(stop, "");
    std::istringstream result(traffic.get());
    long n = 0, wrong = 0, aAllowed = 0, aDenied = 0;
    result >> n >> wrong >> aAllowed >> aDenied;
    std::string detail;
    std::getline(result, detail);
    std::cout << n << " connects during 100 reloads; kOnlyA allowed " << aAllowed << ", denied "
              << aDenied << "\n";
    EXPECT_GT(n, 400);
    EXPECT_EQ(wrong, 0) << "verdicts from neither generation:" << detail;
    EXPECT_GT(aAllowed, 0);
    EXPECT_GT(aDenied, 0);
}

}  // namespace
}  // namespace palisade::test
