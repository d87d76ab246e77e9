// Ed25519 detached signatures of policy files (docs/reference/cli.md `policy sign/verify`,
// §2 `signing`): FILE.sig holds the base64 signature of FILE's exact bytes.
// OpenSSL does the cryptography; its Ed25519 verification compares in
// constant time.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace palisade {

class SignatureError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The base64 Ed25519 signature of `data` by the private key in `keyPemPath`.
// Throws SignatureError (unreadable key, not Ed25519, ...).
std::string signBytes(const std::string& keyPemPath, const std::string& data);

// The signature file that goes with a policy file.
inline std::string signaturePath(const std::string& policyPath) { return policyPath + ".sig"; }

// The public keys policy files are checked against (when signing.publicKeys
// is empty there is nothing to check with, and no verifier).
class PolicyVerifier {
  public:
    // Loads Ed25519 public keys (PEM). Throws SignatureError naming the file,
    // or when signatures are required and there is no key.
    PolicyVerifier(const std::vector<std::string>& publicKeyPaths, bool required);

    // Why `data` must not be trusted, or "" when it may: a signature present is
    // always checked (a tampered file is refused even when signing is not
    // required); a missing one is refused only when signatures are required.
    std::string check(const std::string& data, const std::optional<std::string>& sigBase64) const;

  private:
    struct KeyFree {
        void operator()(EVP_PKEY* key) const;
    };
    std::vector<std::unique_ptr<EVP_PKEY, KeyFree>> keys_;
    bool required_;
};

}  // namespace palisade
