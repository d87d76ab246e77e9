#include "events/sinks.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>

#include "util/errno_text.h"

namespace fs = std::filesystem;

namespace palisade {

FileSink::FileSink(std::string path, uint64_t maxBytes, uint32_t maxFiles)
    : path_(std::move(path)), maxBytes_(maxBytes), maxFiles_(maxFiles) {
    std::error_code ec;
    fs::create_directories(fs::path(path_).parent_path(), ec);
    file_.reset(fopen(path_.c_str(), "ae"));
    if (!file_) {
        const int err = errno;
        throw std::runtime_error("open event file " + path_ + ": " + errnoText(err));
    }
    size_ = fs::file_size(path_, ec);
}

void FileSink::rotate() {
    file_.reset();
    std::error_code ec;
    for (uint32_t i = maxFiles_ - 1; i > 0; i--) {
        std::string from = i == 1 ? path_ : path_ + "." + std::to_string(i - 1);
        fs::rename(from, path_ + "." + std::to_string(i), ec);
    }
    if (maxFiles_ <= 1) fs::remove(path_, ec);
    file_.reset(fopen(path_.c_str(), "we"));
    size_ = 0;
    if (!file_) {
        // Events are dropped, the agent goes on; write() tries to reopen.
        spdlog::error("reopen event file {}: {}", path_, errnoText(errno));
    }
}

void FileSink::write(const Event& event) {
    const std::string& line = event.line();
    if (size_ > 0 && size_ + line.size() + 1 > maxBytes_) rotate();
    if (!file_) file_.reset(fopen(path_.c_str(), "ae"));
    if (!file_) return;  // said when it failed (rotate); retried with the next event
    fwrite(line.data(), 1, line.size(), file_.get());
    fputc('\n', file_.get());
    size_ += line.size() + 1;
}

void FileSink::flush() {
    if (file_) fflush(file_.get());
}

void StdoutSink::write(const Event& event) {
    fwrite(event.line().data(), 1, event.line().size(), stdout);
    fputc('\n', stdout);
}

void StdoutSink::flush() { fflush(stdout); }

EventBus::EventBus(const std::vector<SinkConfig>& sinks) {
    for (const auto& s : sinks) {
        if (s.type == SinkConfig::Type::Stdout) {
            add(std::make_unique<StdoutSink>());
        } else {
            add(std::make_unique<FileSink>(s.path, uint64_t{s.maxSizeMB} << 20, s.maxFiles));
        }
    }
}

void EventBus::publish(const Event& event) {
    for (auto& s : sinks_) s->write(event);
}

void EventBus::flush() {
    for (auto& s : sinks_) s->flush();
}

}  // namespace palisade
