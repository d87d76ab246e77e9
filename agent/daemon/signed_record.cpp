#include "daemon/signed_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <sstream>

#include "policy/signature.h"
#include "util/errno_text.h"
#include "util/fd.h"
#include "util/yaml_reader.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVersionsFile = "versions";

[[noreturn]] void fail(const fs::path& path, const std::string& what, int err) {
    throw SignedRecordError("signing.recordDir: " + path.string() + ": " + what + ": " +
                            errnoText(err));
}

// Replaces `path` with `text` so that a crash or a power cut leaves the old
// content or the new, never a mix: written beside it, synced, renamed over it,
// and the directory synced so that the rename itself is on disk.
void writeDurably(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.parent_path() / ("." + path.filename().string() + ".tmp");
    Fd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) fail(tmp, "cannot create", errno);
    for (size_t done = 0; done < text.size();) {
        const ssize_t n = write(fd.get(), text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int err = errno;
            unlink(tmp.c_str());
            fail(tmp, "cannot write", err);
        }
        done += static_cast<size_t>(n);
    }
    if (fsync(fd.get()) != 0 || close(fd.release()) != 0) {
        const int err = errno;
        unlink(tmp.c_str());
        fail(tmp, "cannot write", err);
    }
    if (rename(tmp.c_str(), path.c_str()) != 0) fail(path, "cannot replace", errno);
    const Fd dir(open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir || fsync(dir.get()) != 0) fail(path.parent_path(), "cannot sync", errno);
}

bool isPolicyFileName(const std::string& name) {
    return !name.starts_with('.') && (name.ends_with(".yaml") || name.ends_with(".yml"));
}

}  // namespace

SignedRecord::SignedRecord(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    if (fs::create_directories(dir_, ec)) {
        // Root's alone: whoever can write it can make the agent forget versions.
        fs::permissions(dir_, fs::perms::owner_all, ec);
    }
    if (ec) fail(dir_, "cannot create", ec.value());
    const fs::path path = fs::path(dir_) / kVersionsFile;
    if (!fs::exists(path, ec)) {
        if (ec) fail(path, "cannot read", ec.value());  // not "nothing accepted"
        return;                                         // nothing accepted yet
    }
    Diagnostics errors;
    auto text = yaml::readSource(path.string(), errors);
    if (!text) throw SignedRecordError("signing.recordDir: " + errors.front().str());
    std::istringstream lines(*text);
    std::string line;
    for (int number = 1; std::getline(lines, line); number++) {
        if (line.empty() || line.starts_with('#')) continue;
        const size_t space = line.find(' ');
        const char* end = line.data() + line.size();
        uint64_t version = 0;
        std::from_chars_result parsed{nullptr, std::errc::invalid_argument};
        if (space != 0 && space != std::string::npos) {
            parsed = std::from_chars(line.data() + space + 1, end, version);
        }
        if (parsed.ec != std::errc() || parsed.ptr != end || version == 0) {
            throw SignedRecordError("signing.recordDir: " + path.string() + ":" +
                                    std::to_string(number) + ": not a \"NAME VERSION\" line");
        }
        versions_[line.substr(0, space)] = version;
    }
}

uint64_t SignedRecord::version(const std::string& name) const {
    auto it = versions_.find(name);
    return it == versions_.end() ? 0 : it->second;
}

bool SignedRecord::raise(const std::string& name, uint64_t version) {
    uint64_t& known = versions_[name];
    if (version <= known) return false;
    known = version;
    return true;
}

void SignedRecord::saveVersions() const {
    std::string text =
        "# The highest version of each policy name that palisade accepted "
        "(docs/signing.md#versions).\n";
    for (const auto& [name, version] : versions_) {
        text += name + " " + std::to_string(version) + "\n";
    }
    writeDurably(fs::path(dir_) / kVersionsFile, text);
}

std::vector<SignedRecord::Copy> SignedRecord::copies() const {
    std::vector<Copy> out;
    Diagnostics errors;
    auto read = [&](const std::string& path) {
        auto text = yaml::readSource(path, errors);
        if (!text) throw SignedRecordError("signing.recordDir: " + errors.back().str());
        return std::move(*text);
    };
    std::error_code ec;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!isPolicyFileName(name)) continue;
        out.push_back({name, read(it->path().string()), read(signaturePath(it->path().string()))});
    }
    if (ec) fail(dir_, "cannot list", ec.value());
    return out;
}

void SignedRecord::keep(const Copy& copy) const {
    // A crash between the two leaves a pair that fails its check at the next
    // start, and is left out.
    const fs::path path = fs::path(dir_) / copy.name;
    writeDurably(signaturePath(path.string()), copy.signature);
    writeDurably(path, copy.text);
}

void SignedRecord::forget(const std::string& name) const {
    const fs::path path = fs::path(dir_) / name;
    for (const fs::path& p : {path, fs::path(signaturePath(path.string()))}) {
        if (unlink(p.c_str()) != 0 && errno != ENOENT) fail(p, "cannot remove", errno);
    }
}

}  // namespace palisade
