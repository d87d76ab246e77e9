#include "policy/signature.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "policy/policy_parser.h"
#include "test_keys.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;
using test::makeKeyPair;

const std::string kPolicy = R"(apiVersion: palisade.dev/v1
kind: ContainerPolicy
metadata: {name: api}
spec:
  selector: {name: api}
  egress: []
)";

class Signature : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/palisade-sig-XXXXXX";
        dir_ = mkdtemp(tmpl);
        alice_ = makeKeyPair(dir_, "alice");
        mallory_ = makeKeyPair(dir_, "mallory");
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text) {
        std::string path = dir_ + "/" + name;
        std::ofstream(path, std::ios::binary) << text;
        return path;
    }

    std::string dir_;
    test::KeyPair alice_, mallory_;
};

TEST_F(Signature, SignedBytesVerifyWithTheMatchingKeyOnly) {
    const std::string sig = signBytes(alice_.privatePem, kPolicy);
    EXPECT_EQ(sig.size(), 88u);  // 64 bytes in base64
    PolicyVerifier alice({alice_.publicPem}, true);
    EXPECT_EQ(alice.check(kPolicy, sig), "");
    EXPECT_EQ(alice.check(kPolicy, sig + "\n"), "");  // as written to FILE.sig
    PolicyVerifier mallory({mallory_.publicPem}, true);
    EXPECT_NE(mallory.check(kPolicy, sig).find("does not match"), std::string::npos);
    PolicyVerifier either({mallory_.publicPem, alice_.publicPem}, true);
    EXPECT_EQ(either.check(kPolicy, sig), "");
}

TEST_F(Signature, TamperedUnsignedAndMalformedAreRefused) {
    const std::string sig = signBytes(alice_.privatePem, kPolicy);
    PolicyVerifier required({alice_.publicPem}, true);
    std::string tampered = kPolicy;
    tampered.replace(tampered.find("egress: []"), 10, "egress: [{toCIDR: [0.0.0.0/0]}]");
    EXPECT_NE(required.check(tampered, sig), "");
    EXPECT_NE(required.check(kPolicy + " ", sig), "");  // one byte more
    EXPECT_NE(required.check(kPolicy, std::nullopt).find("unsigned"), std::string::npos);
    EXPECT_NE(required.check(kPolicy, "not base64!").find("not a base64"), std::string::npos);
    EXPECT_NE(required.check(kPolicy, sig.substr(0, 44)), "");  // truncated

    PolicyVerifier optional({alice_.publicPem}, false);
    EXPECT_EQ(optional.check(kPolicy, std::nullopt), "");  // unsigned is fine when not required
    EXPECT_NE(optional.check(tampered, sig), "");          // but a bad signature never is
}

TEST_F(Signature, BadKeysAreClearErrors) {
    auto rsa = makeKeyPair(dir_, "rsa", true);
    EXPECT_THROW(PolicyVerifier({rsa.publicPem}, true), SignatureError);
    EXPECT_THROW(signBytes(rsa.privatePem, kPolicy), SignatureError);
    EXPECT_THROW(PolicyVerifier({dir_ + "/missing.pub"}, true), SignatureError);
    EXPECT_THROW(PolicyVerifier({alice_.privatePem + ".nope"}, false), SignatureError);
    EXPECT_THROW(PolicyVerifier({}, true), SignatureError);
    try {
        PolicyVerifier({write("junk.pub", "hello")}, true);
        FAIL();
    } catch (const SignatureError& e) {
        EXPECT_NE(std::string(e.what()).find("junk.pub: not a PEM public key"), std::string::npos);
    }
}

TEST_F(Signature, PolicyFilesAreCheckedOnTheBytesParsed) {
    PolicyVerifier verifier({alice_.publicPem}, true);
    const std::string path = write("api.yaml", kPolicy);
    PolicyFile unsigned_ = parsePolicyFile(path, &verifier);
    ASSERT_FALSE(unsigned_.valid());
    EXPECT_EQ(unsigned_.errors[0].str(),
              path + ": unsigned: signing.required needs a valid FILE.sig");
    EXPECT_TRUE(unsigned_.policies.empty());

    write("api.yaml.sig", signBytes(alice_.privatePem, kPolicy) + "\n");
    PolicyFile good = parsePolicyFile(path, &verifier);
    EXPECT_TRUE(good.valid());
    EXPECT_EQ(good.policies.size(), 1u);

    write("api.yaml", kPolicy + "# appended\n");
    PolicyFile tampered = parsePolicyFile(path, &verifier);
    ASSERT_FALSE(tampered.valid());
    EXPECT_NE(tampered.errors[0].message.find("does not match"), std::string::npos);
    // Signature files are not policy files.
    Diagnostics errors;
    EXPECT_EQ(loadPolicyPaths({dir_}, errors, &verifier).size(), 1u);
}

}  // namespace
}  // namespace palisade
