// docs/signing.md#versions: with signing.required, PolicyStore refuses signed
// rollbacks and deletions the operator did not sign, and remembers what is in
// force across restarts in its SignedRecord.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <optional>

#include "daemon/policy_store.h"
#include "daemon/signed_record.h"
#include "policy/signature.h"
#include "temp_dir.h"
#include "test_keys.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Policy `name` at `version`, allowing `cidr`.
std::string policy(const std::string& name, int version, const std::string& cidr = "10.0.0.0/8") {
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: " + name +
           ", version: " + std::to_string(version) + "}\nspec:\n  selector: {name: " + name +
           "}\n  egress:\n    - toCIDR: [" + cidr + "]\n";
}

std::string tombstone(const std::string& name, int version) {
    return "apiVersion: palisade.dev/v1\nkind: PolicyTombstone\nmetadata: {name: " + name +
           ", version: " + std::to_string(version) + "}\n";
}

std::vector<std::string> problems(const Diagnostics& errors) {
    std::vector<std::string> out;
    for (const Diagnostic& d : errors) out.push_back(d.str());
    return out;
}

// The policy named `name` in force in `store`, or null.
const Policy* inForce(const PolicyStore& store, const std::string& name) {
    for (const Policy& p : store.policies()) {
        if (p.name == name) return &p;
    }
    return nullptr;
}

// What the first egress rule of `p` allows.
std::string allowed(const Policy* p) { return p ? p->egress.at(0).toCIDR.at(0).str() : "none"; }

class SignedStore : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_.mkdirs("policies");
        keys_ = test::makeKeyPair(dir_.path().string(), "ops");
        verifier_.emplace(std::vector<std::string>{keys_.publicPem}, true);
        ASSERT_THAT(problems(store_.useRecord(SignedRecord(record()), policyDir(), *verifier_)),
                    IsEmpty());
    }

    std::string policyDir() const { return dir_ / "policies"; }
    std::string record() const { return dir_ / "record"; }
    std::string path(const std::string& name) const { return dir_ / ("policies/" + name); }

    // Writes policies/NAME and its signature by the operator's key.
    void sign(const std::string& name, const std::string& text) {
        dir_.write("policies/" + name, text);
        dir_.write("policies/" + name + ".sig", signBytes(keys_.privatePem, text));
    }
    void remove(const std::string& name) {
        fs::remove(path(name));
        fs::remove(path(name + ".sig"));
    }
    PolicyStore::Outcome reload(PolicyStore& store) {
        return store.reload(policyDir(), &*verifier_);
    }
    PolicyStore::Outcome reload() { return reload(store_); }
    // A new store on the same record and directory: the agent started again.
    PolicyStore restart() {
        PolicyStore store;
        EXPECT_THAT(problems(store.useRecord(SignedRecord(record()), policyDir(), *verifier_)),
                    IsEmpty());
        return store;
    }

    testing::TempDir dir_;
    test::KeyPair keys_;
    std::optional<PolicyVerifier> verifier_;
    PolicyStore store_;
};

TEST_F(SignedStore, ARollbackIsRefusedAndTheVersionInForceStays) {
    sign("api.yaml", policy("api", 2, "10.2.0.0/16"));
    ASSERT_EQ(reload().accepted.size(), 1u);

    sign("api.yaml", policy("api", 1, "0.0.0.0/0"));  // an older signed version, wider
    auto out = reload();
    EXPECT_FALSE(out.changed());
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_EQ(out.rejected[0].path, path("api.yaml"));
    EXPECT_THAT(problems(out.rejected[0].errors),
                ElementsAre(path("api.yaml") +
                            ":3:18: rollback refused: \"api\" version 1 is older than version 2, "
                            "accepted before"));
    EXPECT_EQ(allowed(inForce(store_, "api")), "10.2.0.0/16");
}

TEST_F(SignedStore, TheSameOrAHigherVersionIsAccepted) {
    sign("api.yaml", policy("api", 2, "10.2.0.0/16"));
    reload();
    sign("api.yaml", policy("api", 2, "10.3.0.0/16"));  // re-signed without a new version
    EXPECT_EQ(reload().accepted.size(), 1u);
    EXPECT_EQ(allowed(inForce(store_, "api")), "10.3.0.0/16");
    sign("api.yaml", policy("api", 3, "10.4.0.0/16"));
    auto out = reload();
    EXPECT_EQ(out.accepted.size(), 1u);
    EXPECT_THAT(out.rejected, IsEmpty());
    EXPECT_EQ(allowed(inForce(store_, "api")), "10.4.0.0/16");
}

// Versions go with the policy's name, not the file's: an old signed file under
// another name (sorting first, so that it would win the name) is a rollback too.
TEST_F(SignedStore, AnOldVersionUnderAnotherFileNameIsRefused) {
    sign("api.yaml", policy("api", 2, "10.2.0.0/16"));
    reload();
    sign("0-api.yaml", policy("api", 1, "0.0.0.0/0"));
    auto out = reload();
    EXPECT_FALSE(out.changed());
    std::map<std::string, std::vector<std::string>> rejected;
    for (const auto& file : out.rejected) rejected[file.path] = problems(file.errors);
    EXPECT_THAT(rejected[path("0-api.yaml")], ElementsAre(HasSubstr("rollback refused")));
    EXPECT_THAT(rejected[path("api.yaml")], ElementsAre(HasSubstr("duplicate policy name")));
    ASSERT_EQ(store_.policies().size(), 1u);
    EXPECT_EQ(allowed(inForce(store_, "api")), "10.2.0.0/16");
}

TEST_F(SignedStore, ADeletedFileStaysInForceWithoutATombstone) {
    sign("api.yaml", policy("api", 2));
    reload();
    remove("api.yaml");
    auto out = reload();
    EXPECT_FALSE(out.changed());
    EXPECT_THAT(out.removed, IsEmpty());
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_THAT(problems(out.rejected[0].errors),
                ElementsAre(path("api.yaml") +
                            ": deleted without a signed tombstone: policy \"api\" (version 2) "
                            "stays in force"));
    EXPECT_NE(inForce(store_, "api"), nullptr);
}

TEST_F(SignedStore, AFileThatDropsAPolicyWithoutATombstoneIsRefused) {
    sign("apps.yaml", policy("api", 1) + "---\n" + policy("web", 1));
    reload();
    sign("apps.yaml", policy("api", 2, "10.2.0.0/16"));  // web left out
    auto out = reload();
    EXPECT_FALSE(out.changed());
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_THAT(problems(out.rejected[0].errors),
                ElementsAre(path("apps.yaml") +
                            ": drops policy \"web\" (version 1) without a signed tombstone: the "
                            "version in force stays"));
    EXPECT_NE(inForce(store_, "web"), nullptr);
    EXPECT_EQ(allowed(inForce(store_, "api")), "10.0.0.0/8");
}

TEST_F(SignedStore, APolicyMayMoveToAnotherFile) {
    sign("apps.yaml", policy("api", 1) + "---\n" + policy("web", 1));
    reload();
    sign("apps.yaml", policy("api", 1));
    sign("web.yaml", policy("web", 1));
    auto out = reload();
    EXPECT_THAT(out.rejected, IsEmpty());
    EXPECT_EQ(out.accepted.size(), 2u);
    EXPECT_EQ(store_.policies().size(), 2u);
}

TEST_F(SignedStore, ASignedTombstoneDeletesThePolicyForGood) {
    sign("api.yaml", policy("api", 2));
    reload();
    sign("api.yaml", tombstone("api", 3));
    auto out = reload();
    EXPECT_THAT(out.rejected, IsEmpty());
    EXPECT_EQ(out.accepted.size(), 1u);
    EXPECT_EQ(inForce(store_, "api"), nullptr);

    remove("api.yaml");  // a file that holds no policy goes freely
    out = reload();
    EXPECT_THAT(out.rejected, IsEmpty());
    EXPECT_THAT(out.removed, ElementsAre(path("api.yaml")));

    sign("api.yaml", policy("api", 2));  // the deleted version, back
    out = reload();
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_THAT(problems(out.rejected[0].errors), ElementsAre(HasSubstr("rollback refused")));
    EXPECT_EQ(inForce(store_, "api"), nullptr);

    sign("api.yaml", policy("api", 4));  // a new one
    EXPECT_EQ(reload().accepted.size(), 1u);
    EXPECT_NE(inForce(store_, "api"), nullptr);
}

TEST_F(SignedStore, ATombstoneMustBeNewerThanThePolicy) {
    sign("api.yaml", policy("api", 2));
    reload();
    sign("api.yaml", tombstone("api", 2));
    auto out = reload();
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_THAT(problems(out.rejected[0].errors),
                ElementsAre(path("api.yaml") +
                            ":3:18: the tombstone of \"api\" needs a version higher than 2, the "
                            "policy's in force"));
    EXPECT_NE(inForce(store_, "api"), nullptr);
}

// A rollback or a deletion while the agent is stopped is refused when it starts:
// what was in force comes from the record, before the directory is read.
TEST_F(SignedStore, WhatIsInForceSurvivesARestart) {
    sign("api.yaml", policy("api", 2, "10.2.0.0/16"));
    sign("web.yaml", policy("web", 1));
    reload();
    sign("api.yaml", policy("api", 1, "0.0.0.0/0"));
    remove("web.yaml");

    PolicyStore restarted = restart();
    EXPECT_EQ(restarted.policies().size(), 2u);
    auto out = reload(restarted);
    EXPECT_FALSE(out.changed());
    EXPECT_EQ(out.rejected.size(), 2u);
    EXPECT_EQ(allowed(inForce(restarted, "api")), "10.2.0.0/16");
    EXPECT_NE(inForce(restarted, "web"), nullptr);
}

TEST_F(SignedStore, ATombstoneIsRememberedAcrossARestart) {
    sign("api.yaml", policy("api", 2));
    reload();
    sign("api.yaml", tombstone("api", 3));
    reload();
    remove("api.yaml");
    reload();

    sign("api.yaml", policy("api", 2));
    PolicyStore restarted = restart();
    auto out = reload(restarted);
    ASSERT_EQ(out.rejected.size(), 1u);
    EXPECT_THAT(problems(out.rejected[0].errors), ElementsAre(HasSubstr("rollback refused")));
    EXPECT_EQ(inForce(restarted, "api"), nullptr);
}

TEST_F(SignedStore, ACopyThatNoLongerVerifiesIsLeftOut) {
    sign("api.yaml", policy("api", 2));
    reload();
    const test::KeyPair rotated = test::makeKeyPair(dir_.path().string(), "rotated");
    PolicyStore restarted;
    auto errors = restarted.useRecord(SignedRecord(record()), policyDir(),
                                      PolicyVerifier({rotated.publicPem}, true));
    EXPECT_THAT(problems(errors), ElementsAre(HasSubstr("api.yaml")));
    EXPECT_THAT(restarted.policies(), IsEmpty());
}

// Without signing.required (no record) nothing of this applies.
TEST_F(SignedStore, WithoutARecordRollbacksAndDeletionsAreTakenAsBefore) {
    PolicyStore plain;
    const PolicyVerifier optional({keys_.publicPem}, false);
    sign("api.yaml", policy("api", 2, "10.2.0.0/16"));
    plain.reload(policyDir(), &optional);
    sign("api.yaml", policy("api", 1, "0.0.0.0/0"));
    EXPECT_EQ(plain.reload(policyDir(), &optional).accepted.size(), 1u);
    remove("api.yaml");
    EXPECT_EQ(plain.reload(policyDir(), &optional).removed.size(), 1u);
    EXPECT_THAT(plain.policies(), IsEmpty());
}

TEST(SignedRecord, MalformedVersionsStopTheStart) {
    testing::TempDir dir;
    dir.write("record/versions", "# comment\napi 7\nweb seven\n");
    try {
        SignedRecord record(dir / "record");
        FAIL() << "read";
    } catch (const SignedRecordError& e) {
        EXPECT_THAT(e.what(), HasSubstr("versions:3: not a \"NAME VERSION\" line"));
    }
}

TEST(SignedRecord, VersionsOnlyRise) {
    testing::TempDir dir;
    SignedRecord record(dir / "record");
    EXPECT_EQ(fs::status(dir / "record").permissions(), fs::perms::owner_all);
    EXPECT_TRUE(record.raise("api", 3));
    EXPECT_FALSE(record.raise("api", 2));
    record.saveVersions();
    EXPECT_EQ(SignedRecord(dir / "record").version("api"), 3u);
    EXPECT_EQ(SignedRecord(dir / "record").version("web"), 0u);
}

}  // namespace
}  // namespace palisade
