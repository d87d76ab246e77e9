#include "datapath/pin_stage.h"

#include <cstdio>

#include "datapath/datapath.h"
#include "util/errno_text.h"

namespace fs = std::filesystem;

namespace palisade {

PinStage::PinStage(fs::path dir) : dir_(std::move(dir)) {}

PinStage::~PinStage() {
    std::error_code ec;
    for (size_t i = committed_; i < staged_.size(); i++) fs::remove(stagingPath(staged_[i]), ec);
}

fs::path PinStage::finalPath(const std::string& name) const { return dir_ / name; }

// bpffs refuses names with a dot (EPERM: reserved for the kernel's own files).
fs::path PinStage::stagingPath(const std::string& name) const { return dir_ / (name + "-staged"); }

void PinStage::stage(const std::string& name, const std::function<int(const char*)>& pin) {
    const fs::path path = stagingPath(name);
    std::error_code ec;
    fs::remove(path, ec);
    if (int err = pin(path.c_str())) {
        throw DatapathError("pin " + path.string() + ": " + errnoText(err));
    }
    staged_.push_back(name);
}

void PinStage::keep(const std::string& name) { kept_.insert(name); }

void PinStage::commit() {
    for (; committed_ < staged_.size(); committed_++) {
        const std::string& name = staged_[committed_];
        if (std::rename(stagingPath(name).c_str(), finalPath(name).c_str()) != 0) {
            throw DatapathError("pin " + finalPath(name).string() + ": " + errnoText(errno));
        }
    }
    std::set<std::string> inForce(staged_.begin(), staged_.end());
    inForce.insert(kept_.begin(), kept_.end());
    std::error_code ec;
    std::vector<fs::path> stale;
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        if (!inForce.count(it->path().filename().string())) stale.push_back(it->path());
    }
    // Unpinned, a link with no other holder detaches.
    for (const fs::path& p : stale) fs::remove(p, ec);
}

}  // namespace palisade
