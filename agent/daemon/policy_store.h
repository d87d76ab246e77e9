// The policies in force, by file, with the last good version of each file kept
// when a newer version is invalid: bad input never weakens what is in force.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "policy/policy_parser.h"

namespace palisade {

class PolicyStore {
  public:
    struct Outcome {
        std::vector<std::string> accepted;  // new or changed files, now in force
        std::vector<PolicyFile> rejected;   // invalid; their older version stays
        std::vector<std::string> removed;   // files gone from the directory
        Diagnostics errors;                 // problems not tied to one file
        bool changed() const { return !accepted.empty() || !removed.empty(); }
    };

    // Re-reads the directory. A file that vanished takes its policies with it; a
    // file that fails to parse (or its signature check, with a verifier) keeps
    // its last good version in force. A directory that cannot be listed (gone,
    // EMFILE, EACCES...) changes nothing: the outcome carries the error.
    Outcome reload(const std::string& policyDir, const PolicyVerifier* verifier = nullptr);

    // Every policy in force, in file order (kept, not rebuilt per call: a
    // 100,000-CIDR policy is expensive to copy).
    const std::vector<Policy>& policies() const { return policies_; }
    const std::map<std::string, PolicyFile>& files() const { return files_; }

  private:
    std::map<std::string, PolicyFile> files_;  // last good version, by path
    std::vector<Policy> policies_;             // of files_, in order
};

}  // namespace palisade
