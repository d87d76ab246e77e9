#include "daemon/policy_store.h"

#include <filesystem>
#include <set>

#include "policy/signature.h"
#include "util/sha256.h"
#include "util/yaml_reader.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

std::string fileName(const std::string& path) { return fs::path(path).filename().string(); }

// A file left out of the reload, with why.
PolicyFile refusedFile(std::string path, Diagnostic why) {
    PolicyFile file;
    file.path = std::move(path);
    file.errors.push_back(std::move(why));
    return file;
}

}  // namespace

Diagnostics PolicyStore::useRecord(SignedRecord record, const std::string& policyDir,
                                   const PolicyVerifier& verifier) {
    record_ = std::move(record);
    Diagnostics errors;
    for (auto& copy : record_->copies()) {
        const std::string path = (fs::path(policyDir) / copy.name).string();
        if (std::string why = verifier.check(copy.text, copy.signature); !why.empty()) {
            errors.push_back({{path, 0, 0}, "the copy in signing.recordDir: " + why});
            continue;
        }
        PolicyFile file = parsePolicyText(copy.text, path);
        errors.insert(errors.end(), file.errors.begin(), file.errors.end());
        if (!file.valid()) continue;
        // The copy is written before the versions: after a crash in between,
        // its versions are the newer.
        for (const Policy& p : file.policies) record_->raise(p.name, p.version);
        for (const Tombstone& t : file.tombstones) record_->raise(t.name, t.version);
        files_[path] = std::move(file);
    }
    rebuild();
    return errors;
}

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

    Changes changes;
    std::set<std::string> seen;
    for (auto& file : read) {
        seen.insert(file.path);
        if (!file.valid()) {
            out.rejected.push_back(std::move(file));
            continue;
        }
        auto it = files_.find(file.path);
        if (it != files_.end() && it->second.sha256 == file.sha256) continue;
        changes.changed.emplace(file.path, std::move(file));
    }
    for (const auto& [path, file] : files_) {
        if (!seen.count(path)) changes.gone.insert(path);
    }
    if (record_) confirmSigned(changes, *verifier, out);

    for (auto& [path, file] : changes.changed) {
        out.accepted.push_back(path);
        files_[path] = std::move(file);
    }
    for (const auto& path : changes.gone) {
        out.removed.push_back(path);
        files_.erase(path);
    }
    if (out.changed()) rebuild();
    return out;
}

PolicySet PolicyStore::firstFiles(size_t count) const {
    PolicySet set;
    auto policies = std::make_shared<std::vector<Policy>>();
    for (const auto& [path, file] : files_) {
        if (set.files.size() == count) break;
        PolicySet::File& f = set.files[path];
        f.sha256 = file.sha256;
        for (const Policy& p : file.policies) f.policyNames.push_back(p.name);
        policies->insert(policies->end(), file.policies.begin(), file.policies.end());
    }
    set.policies = std::move(policies);
    return set;
}

void PolicyStore::rebuild() { set_ = firstFiles(files_.size()); }

std::optional<Diagnostic> PolicyStore::rollback(const PolicyFile& file) const {
    auto older = [&](const std::string& name, uint64_t version,
                     const SourceLocation& where) -> std::optional<Diagnostic> {
        const uint64_t accepted = record_->version(name);
        if (version >= accepted) return std::nullopt;
        return Diagnostic{where, "rollback refused: \"" + name + "\" version " +
                                     std::to_string(version) + " is older than version " +
                                     std::to_string(accepted) + ", accepted before"};
    };
    for (const Policy& p : file.policies) {
        if (auto why = older(p.name, p.version, p.where)) return why;
    }
    for (const Tombstone& t : file.tombstones) {
        if (auto why = older(t.name, t.version, t.where)) return why;
    }
    return std::nullopt;
}

std::optional<std::pair<std::string, Diagnostic>> PolicyStore::unconfirmedDeletion(
    const Changes& changes) const {
    auto touched = [&](const std::string& path) {
        return changes.changed.count(path) || changes.gone.count(path);
    };
    // The names defined once the changes are made.
    std::set<std::string> policies;
    std::map<std::string, const Tombstone*> tombstones;
    auto add = [&](const PolicyFile& file) {
        for (const Policy& p : file.policies) policies.insert(p.name);
        for (const Tombstone& t : file.tombstones) tombstones[t.name] = &t;
    };
    for (const auto& [path, file] : changes.changed) add(file);
    for (const auto& [path, file] : files_) {
        if (!touched(path)) add(file);
    }
    for (const auto& [path, file] : files_) {
        if (!touched(path)) continue;
        for (const Policy& p : file.policies) {
            if (policies.count(p.name)) continue;  // still defined, by this file or another
            const std::string version = std::to_string(p.version);
            auto t = tombstones.find(p.name);
            if (t == tombstones.end()) {
                const std::string policy = "policy \"" + p.name + "\" (version " + version + ")";
                return std::pair(path, Diagnostic{{path, 0, 0},
                                                  changes.gone.count(path)
                                                      ? "deleted without a signed tombstone: " +
                                                            policy + " stays in force"
                                                      : "drops " + policy +
                                                            " without a signed tombstone: the "
                                                            "version in force stays"});
            }
            if (t->second->version <= p.version) {
                return std::pair(
                    path, Diagnostic{t->second->where, "the tombstone of \"" + p.name +
                                                           "\" needs a version higher than " +
                                                           version + ", the policy's in force"});
            }
        }
    }
    return std::nullopt;
}

void PolicyStore::confirmSigned(Changes& changes, const PolicyVerifier& verifier, Outcome& out) {
    std::map<std::string, SignedRecord::Copy> copies;  // by path
    for (auto it = changes.changed.begin(); it != changes.changed.end();) {
        const auto& [path, file] = *it;
        if (auto why = rollback(file)) {
            out.rejected.push_back(refusedFile(path, *why));
            it = changes.changed.erase(it);
            continue;
        }
        // Read again for the record: a file that changed since it was read
        // waits for the next reload (which that change brings), so that only
        // the bytes that were checked and parsed are kept.
        Diagnostics ignored;
        auto text = yaml::readSource(path, ignored);
        auto signature = yaml::readSource(signaturePath(path), ignored);
        if (!text || !signature || sha256Hex(*text) != file.sha256 ||
            !verifier.check(*text, signature).empty()) {
            it = changes.changed.erase(it);
            continue;
        }
        copies[path] = {fileName(path), std::move(*text), std::move(*signature)};
        ++it;
    }
    // Each refusal puts a file's last good version back, which may leave
    // another change without a policy it relied on: again until none is left.
    while (auto refused = unconfirmedDeletion(changes)) {
        out.rejected.push_back(refusedFile(refused->first, refused->second));
        changes.changed.erase(refused->first);
        changes.gone.erase(refused->first);
    }
    // Recorded before it is in force: a record that cannot be written throws
    // SignedRecordError before anything in force changes (the agent reports it
    // and keeps the policies in force; at start it is fatal).
    bool raised = false;
    for (const auto& [path, file] : changes.changed) {
        record_->keep(copies.at(path));
        for (const Policy& p : file.policies) raised |= record_->raise(p.name, p.version);
        for (const Tombstone& t : file.tombstones) raised |= record_->raise(t.name, t.version);
    }
    for (const auto& path : changes.gone) record_->forget(fileName(path));
    if (raised) record_->saveVersions();
}

}  // namespace palisade
