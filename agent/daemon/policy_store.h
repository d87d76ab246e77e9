// The policies in force, by file, with the last good version of each file kept
// when a newer version is invalid: bad input never weakens what is in force.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "daemon/signed_record.h"
#include "policy/policy_parser.h"

namespace palisade {

// What a generation is compiled from: some policy files and their policies.
struct PolicySet {
    struct File {
        std::string sha256;
        std::vector<std::string> policyNames;
    };
    std::map<std::string, File> files;  // by path
    // The policies of `files`, in file order; shared, not copied: a 100,000-CIDR policy is
    // expensive to copy.
    std::shared_ptr<const std::vector<Policy>> policies = std::make_shared<std::vector<Policy>>();
};

class PolicyStore {
  public:
    struct Outcome {
        std::vector<std::string> accepted;  // new or changed files, now in force
        std::vector<PolicyFile> rejected;   // invalid or refused; their older version stays
        std::vector<std::string> removed;   // files gone from the directory
        Diagnostics errors;                 // problems not tied to one file
        bool changed() const { return !accepted.empty() || !removed.empty(); }
    };

    // Re-reads the directory. A file that vanished takes its policies with it; a
    // file that fails to parse (or its signature check, with a verifier) keeps
    // its last good version in force. A directory that cannot be listed (gone,
    // EMFILE, EACCES...) changes nothing: the outcome carries the error.
    // With a record (signing.required), see useRecord().
    Outcome reload(const std::string& policyDir, const PolicyVerifier* verifier = nullptr);

    // signing.required (docs/signing.md#versions). From now on reload():
    // - refuses a file with a document (policy or tombstone) older than the
    //   version accepted before for its name: a rollback;
    // - lets a policy in force leave only for a policy of the same name or a
    //   tombstone of a higher version: a file that would drop it otherwise is
    //   refused, and one deleted stays in force (reported as rejected);
    // - keeps in `record` a copy of every file in force and the versions
    //   accepted (and throws SignedRecordError when it cannot).
    // The record's copies that `verifier` accepts are in force at once, as the
    // files of `policyDir` they were; why the others are not is returned.
    // Throws SignedRecordError when the record cannot be read. reload() must
    // then be given `verifier`.
    Diagnostics useRecord(SignedRecord record, const std::string& policyDir,
                          const PolicyVerifier& verifier);

    // Every policy of the valid files, in file order (kept, not rebuilt per call).
    const std::vector<Policy>& policies() const { return *set_.policies; }
    const PolicySet& set() const { return set_; }
    // The first `count` files in name order and their policies (copied: for a start
    // whose whole set the maps cannot hold).
    PolicySet firstFiles(size_t count) const;
    const std::map<std::string, PolicyFile>& files() const { return files_; }

  private:
    struct Changes {
        std::map<std::string, PolicyFile> changed;  // new or changed valid files, by path
        std::set<std::string> gone;                 // files in force, no longer in the directory
    };

    void rebuild();  // set_ from files_
    // signing.required: takes out of `changes`, into out.rejected, what
    // useRecord() says is refused, and records the rest.
    void confirmSigned(Changes& changes, const PolicyVerifier& verifier, Outcome& out);
    // The first document of `file` older than the version accepted for its name.
    std::optional<Diagnostic> rollback(const PolicyFile& file) const;
    // The first file whose change would drop a policy in force without a newer
    // tombstone, and why.
    std::optional<std::pair<std::string, Diagnostic>> unconfirmedDeletion(
        const Changes& changes) const;

    std::map<std::string, PolicyFile> files_;  // last good version, by path
    PolicySet set_;                            // of files_
    std::optional<SignedRecord> record_;       // with signing.required
};

}  // namespace palisade
