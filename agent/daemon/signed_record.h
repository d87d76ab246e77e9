// What signing.required remembers across restarts and reboots
// (docs/signing.md#versions): without it, a policy file rolled back or deleted
// while the agent is stopped would be taken as it is found. It lives in a
// directory of the host's disk: stateDir is bpffs, which holds no regular file
// and is empty after a boot.
//
//   versions      "NAME VERSION" lines: the highest version accepted for each
//                 policy name, tombstones included
//   FILE, FILE.sig  a copy of each signed policy file in force and its signature
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace palisade {

class SignedRecordError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class SignedRecord {
  public:
    // Creates `dir` (mode 0700) when it is missing and reads its versions.
    // Throws SignedRecordError naming the file when either fails or the
    // versions are malformed: a record that cannot be trusted stops the start.
    explicit SignedRecord(std::string dir);

    // The highest version accepted for `name`; 0 when none was.
    uint64_t version(const std::string& name) const;
    // Raises the version of `name` to `version` (in memory; saveVersions()
    // writes them). Returns whether it was lower.
    bool raise(const std::string& name, uint64_t version);
    void saveVersions() const;

    struct Copy {
        std::string name;  // the policy file's name, e.g. "api.yaml"
        std::string text;
        std::string signature;
    };
    // The copies kept. These and the next two throw SignedRecordError.
    std::vector<Copy> copies() const;
    // Writes (durably, replacing) or removes the copy of the policy file `name`.
    void keep(const Copy& copy) const;
    void forget(const std::string& name) const;

  private:
    std::string dir_;
    std::map<std::string, uint64_t> versions_;
};

}  // namespace palisade
