// A directory for one test, removed with everything below it when the test ends.
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace palisade::testing {

class TempDir {
  public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "palisade-test-XXXXXX").string();
        if (mkdtemp(pattern.data()) == nullptr) {
            throw std::system_error(errno, std::generic_category(), "mkdtemp");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // path() / relative, as a string.
    std::string operator/(const std::string& relative) const { return (path_ / relative).string(); }

    // Creates `relative` (and its parents) and returns its full path.
    std::filesystem::path mkdirs(const std::string& relative) const {
        std::filesystem::create_directories(path_ / relative);
        return path_ / relative;
    }

    void write(const std::string& relative, const std::string& text) const {
        std::filesystem::create_directories((path_ / relative).parent_path());
        std::ofstream(path_ / relative) << text;
    }

  private:
    std::filesystem::path path_;
};

}  // namespace palisade::testing
