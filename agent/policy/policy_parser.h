// Reads policy files (docs/reference/policy-language.md): YAML, one or more documents per file.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "policy/policy.h"
#include "util/diagnostic.h"

namespace palisade {

// A policy file as read from disk: the policies it defines, or the problems
// that make it invalid. A file with any problem contributes no policy (and no
// tombstone).
struct PolicyFile {
    std::string path;
    std::string sha256;  // hex digest of the file's exact bytes
    std::vector<Policy> policies;
    std::vector<Tombstone> tombstones;
    Diagnostics errors;
    bool valid() const { return errors.empty(); }
};

// Parses YAML text; `path` is used in locations and diagnostics.
PolicyFile parsePolicyText(const std::string& text, const std::string& path);

class PolicyVerifier;

// Reads and parses one file (an unreadable file is one diagnostic). With a
// verifier, the bytes read are checked against FILE.sig first, and a file that
// fails the check is invalid with that reason.
// A file whose bytes hash to `unchanged`'s digest is not parsed again: that
// (valid) result is returned.
PolicyFile parsePolicyFile(const std::string& path, const PolicyVerifier* verifier = nullptr,
                           const PolicyFile* unchanged = nullptr);

// Expands files and directories (a directory's *.yaml and *.yml files, sorted by
// name, not recursive) and parses each. Also reports a policy name defined twice
// across the set (by a policy or a tombstone), at the second definition, and a
// path that does not exist.
// `known`: valid files read before, by path, reused while their bytes are the same.
std::vector<PolicyFile> loadPolicyPaths(const std::vector<std::string>& paths, Diagnostics& errors,
                                        const PolicyVerifier* verifier = nullptr,
                                        const std::map<std::string, PolicyFile>* known = nullptr);

}  // namespace palisade
