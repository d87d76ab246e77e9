#include "policy/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <memory>

#include "util/fd.h"

namespace palisade {
namespace {

using PKeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

PKeyPtr readKey(const std::string& path, bool isPrivate) {
    const FilePtr f(fopen(path.c_str(), "r"));
    if (!f) throw SignatureError(path + ": cannot open key file");
    EVP_PKEY* key = isPrivate ? PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr)
                              : PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr);
    if (!key) {
        throw SignatureError(path + ": not a PEM " + (isPrivate ? "private" : "public") + " key");
    }
    PKeyPtr owned(key, &EVP_PKEY_free);
    if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) throw SignatureError(path + ": not an Ed25519 key");
    return owned;
}

std::string base64(const unsigned char* data, size_t len) {
    std::string out(4 * ((len + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, len);
    out.resize(n);
    return out;
}

// Strict decoding of one base64 line (surrounding whitespace allowed).
std::optional<std::string> unbase64(std::string text) {
    const auto first = text.find_first_not_of(" \t\r\n");
    const auto last = text.find_last_not_of(" \t\r\n");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), text.size());
    if (n < 0) return std::nullopt;
    size_t pad = text.ends_with("==") ? 2 : text.ends_with("=") ? 1 : 0;
    out.resize(n - pad);
    return out;
}

bool verifyWith(EVP_PKEY* key, const std::string& data, const std::string& sig) {
    MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    return ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()),
                            sig.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size()) == 1;
}

}  // namespace

std::string signBytes(const std::string& keyPemPath, const std::string& data) {
    PKeyPtr key = readKey(keyPemPath, true);
    MdCtxPtr ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    unsigned char sig[64];
    size_t len = sizeof(sig);
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(data.data()),
                       data.size()) != 1) {
        throw SignatureError(keyPemPath + ": signing failed");
    }
    return base64(sig, len);
}

PolicyVerifier::PolicyVerifier(const std::vector<std::string>& publicKeyPaths, bool required)
    : required_(required) {
    if (required_ && publicKeyPaths.empty()) {
        throw SignatureError("signing.required is set but signing.publicKeys is empty");
    }
    keys_.reserve(publicKeyPaths.size());  // so emplace_back cannot throw with a key in hand
    for (const auto& path : publicKeyPaths) keys_.emplace_back(readKey(path, false).release());
}

void PolicyVerifier::KeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

std::string PolicyVerifier::check(const std::string& data,
                                  const std::optional<std::string>& sigBase64) const {
    if (!sigBase64) return required_ ? "unsigned: signing.required needs a valid FILE.sig" : "";
    auto sig = unbase64(*sigBase64);
    if (!sig || sig->size() != 64) return "signature file is not a base64 Ed25519 signature";
    for (const auto& k : keys_) {
        if (verifyWith(k.get(), data, *sig)) return "";
    }
    return "signature does not match the file (tampered, or signed by another key)";
}

}  // namespace palisade
