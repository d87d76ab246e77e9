// Throw-away Ed25519 key pairs for signature tests, written as PEM files.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <stdexcept>
#include <string>

namespace palisade::test {

struct KeyPair {
    std::string privatePem, publicPem;  // paths
};

// Writes <dir>/<name>.key and <dir>/<name>.pub (Ed25519, or RSA when asked,
// to test refusal of other key types).
inline KeyPair makeKeyPair(const std::string& dir, const std::string& name, bool rsa = false) {
    EVP_PKEY* key = rsa ? EVP_RSA_gen(2048) : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    if (!key) throw std::runtime_error("key generation failed");
    KeyPair kp{dir + "/" + name + ".key", dir + "/" + name + ".pub"};
    FILE* priv = fopen(kp.privatePem.c_str(), "w");
    FILE* pub = fopen(kp.publicPem.c_str(), "w");
    bool ok = priv && pub &&
              PEM_write_PrivateKey(priv, key, nullptr, nullptr, 0, nullptr, nullptr) &&
              PEM_write_PUBKEY(pub, key);
    if (priv) fclose(priv);
    if (pub) fclose(pub);
    EVP_PKEY_free(key);
    if (!ok) throw std::runtime_error("cannot write keys to " + dir);
    return kp;
}

}  // namespace palisade::test
