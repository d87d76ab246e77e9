// Container discovery from the cgroup v2 tree, and where that tree is mounted.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <system_error>

#include "containers/container.h"

namespace palisade {

namespace {

namespace fs = std::filesystem;

struct Walk {
    const RuntimeRoots& roots;
    std::map<uint64_t, const Container*> known;  // by cgroup id
    std::vector<Container> found;
};

// The container whose cgroup `dir` is, or nullopt when it is not one or it vanished
// before its id could be read.
std::optional<Container> containerAt(const fs::path& dir, const CgroupIdentity& identity,
                                     const Walk& walk) {
    Container c;
    c.id = identity.id;
    c.runtime = identity.runtime;
    c.cgroupPath = dir.string();
    try {
        c.cgroupId = cgroupIdOf(c.cgroupPath);
    } catch (const std::system_error& e) {
        if (e.code() == std::errc::no_such_file_or_directory) {
            return std::nullopt;  // the container exited while we walked
        }
        throw;  // not knowing is not "gone"
    }
    auto known = walk.known.find(c.cgroupId);
    if (known != walk.known.end() && known->second->cgroupPath == c.cgroupPath) {
        return *known->second;
    }
    readContainerMetadata(c, walk.roots);
    return c;
}

// Containers are short-lived, so every directory below the root may disappear
// under us: that is "nothing here". Any other error (EMFILE, ENOMEM, EACCES,
// the root itself unreadable) means the scan is incomplete, and an incomplete
// scan must not read as "these containers are gone": it throws.
void walkDir(Walk& walk, const fs::path& dir, const std::string& relative, int depth) {
    std::error_code ec;
    auto check = [&] {
        const bool vanished =
            ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
        if (ec && (depth == 0 || !vanished)) {
            throw std::system_error(ec, "read cgroup directory " + dir.string());
        }
    };
    fs::directory_iterator it(dir, ec), end;
    check();
    for (; !ec && it != end; it.increment(ec), check()) {
        std::error_code statEc;
        // symlink_status: a cgroup tree has no symlinks, and following one could loop.
        if (!fs::is_directory(it->symlink_status(statEc)) || statEc) continue;
        const std::string childRelative = relative + "/" + it->path().filename().string();
        if (auto identity = parseContainerCgroup(childRelative)) {
            // Nested cgroups below a container belong to it: do not descend.
            if (auto c = containerAt(it->path(), *identity, walk)) {
                walk.found.push_back(std::move(*c));
            }
        } else if (depth + 1 < kMaxCgroupDepth) {
            walkDir(walk, it->path(), childRelative, depth + 1);
        }
    }
}

// Decodes the octal escapes (\040 space, \011 tab, \012 newline, \134 backslash)
// the kernel writes for those characters in mountinfo paths.
std::string unescapeMountPath(const std::string& text) {
    auto isOctal = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size() && isOctal(text[i + 1]) &&
            isOctal(text[i + 2]) && isOctal(text[i + 3])) {
            out += static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                     (text[i + 3] - '0'));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

struct MountLine {
    std::string root;        // the mounted subtree of the filesystem
    std::string mountPoint;  // still escaped
    std::string fsType;
};

// "36 35 98:0 /root /mnt opts [optional fields...] - fstype source superopts".
// The optional fields vary in number, so the fstype is found after the lone "-".
std::optional<MountLine> parseMountLine(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    for (std::string field; in >> field;) fields.push_back(field);
    if (fields.size() < 6) return std::nullopt;
    auto dash = std::find(fields.begin() + 6, fields.end(), "-");
    if (dash == fields.end() || dash + 1 == fields.end()) return std::nullopt;
    return MountLine{fields[3], fields[4], *(dash + 1)};
}

}  // namespace

std::vector<Container> scanContainers(const std::string& cgroupRoot, const RuntimeRoots& roots,
                                      const std::vector<Container>& known) {
    Walk walk{roots, {}, {}};
    for (const auto& c : known) walk.known[c.cgroupId] = &c;
    walkDir(walk, fs::path(cgroupRoot), "", 0);
    // Directory order is the filesystem's; callers and logs want a stable order.
    std::ranges::sort(walk.found, {}, &Container::cgroupPath);
    return std::move(walk.found);
}

uint64_t cgroupIdOf(const std::string& path) {
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) {
        throw std::system_error(errno, std::generic_category(), "stat " + path);
    }
    return st.st_ino;
}

std::string findCgroup2Mount(const std::string& mountinfoPath) {
    std::ifstream in(mountinfoPath);
    std::string fallback;
    for (std::string line; std::getline(in, line);) {
        auto mount = parseMountLine(line);
        if (!mount || mount->fsType != "cgroup2") continue;
        // A mount of the whole hierarchy ("/") is the host's view; a bind mount of a
        // subtree is only used when there is nothing better.
        if (mount->root == "/") return unescapeMountPath(mount->mountPoint);
        if (fallback.empty()) fallback = unescapeMountPath(mount->mountPoint);
    }
    return fallback;
}

}  // namespace palisade
