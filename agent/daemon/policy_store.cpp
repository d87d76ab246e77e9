#include "daemon/policy_store.h"

#include <filesystem>
#include <set>

namespace palisade {

PolicyStore::Outcome PolicyStore::reload(const std::string& policyDir,
                                         const PolicyVerifier* verifier) {
    Outcome out;
    std::error_code ec;
    if (!std::filesystem::is_directory(policyDir, ec)) {
        out.errors.push_back({{policyDir, 0, 0},
                              "policy directory cannot be read (" +
                                  (ec ? ec.message() : std::string("not a directory")) +
                                  "): the policies in force stay"});
        return out;
    }
    std::vector<PolicyFile> read = loadPolicyPaths({policyDir}, out.errors, verifier, &files_);
    // A listing that failed part-way (EMFILE, ENOMEM, EACCES) would read as
    // "every file was deleted": keep what is in force instead.
    for (auto& d : out.errors) {
        if (d.where.file == policyDir) {
            d.message += ": the policies in force stay";
            return out;
        }
    }

    std::set<std::string> seen;
    for (auto& file : read) {
        seen.insert(file.path);
        if (!file.valid()) {
            out.rejected.push_back(std::move(file));
            continue;
        }
        auto it = files_.find(file.path);
        if (it != files_.end() && it->second.sha256 == file.sha256) continue;
        out.accepted.push_back(file.path);
        files_[file.path] = std::move(file);
    }
    for (auto it = files_.begin(); it != files_.end();) {
        if (seen.count(it->first)) {
            ++it;
        } else {
            out.removed.push_back(it->first);
            it = files_.erase(it);
        }
    }
    if (out.changed()) {
        policies_.clear();
        for (const auto& [path, file] : files_) {
            policies_.insert(policies_.end(), file.policies.begin(), file.policies.end());
        }
    }
    return out;
}

}  // namespace palisade
