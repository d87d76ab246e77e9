// Where events go (docs/reference/configuration.md events.sinks): one JSON object per line.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "events/event.h"
#include "util/fd.h"

namespace palisade {

class EventSink {
  public:
    virtual ~EventSink() = default;
    virtual void write(const Event& event) = 0;
    virtual void flush() = 0;
};

// A file rotated by size: path, path.1, ... path.<maxFiles-1>.
class FileSink : public EventSink {
  public:
    FileSink(std::string path, uint64_t maxBytes, uint32_t maxFiles);
    void write(const Event& event) override;
    void flush() override;

  private:
    void rotate();
    std::string path_;
    uint64_t maxBytes_;
    uint32_t maxFiles_;
    FilePtr file_;
    uint64_t size_ = 0;
};

class StdoutSink : public EventSink {
  public:
    void write(const Event& event) override;
    void flush() override;
};

// Fans events out to every configured sink.
class EventBus {
  public:
    explicit EventBus(const std::vector<SinkConfig>& sinks);
    void add(std::unique_ptr<EventSink> sink) { sinks_.push_back(std::move(sink)); }
    void publish(const Event& event);
    void flush();

  private:
    std::vector<std::unique_ptr<EventSink>> sinks_;
};

}  // namespace palisade
