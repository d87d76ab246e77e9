// An event sink that keeps every event's JSON, for tests of what is published.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "events/sinks.h"

namespace palisade::testing {

class CapturedEvents : public EventSink {
  public:
    explicit CapturedEvents(std::vector<nlohmann::json>& out) : out_(out) {}
    void write(const Event& event) override { out_.push_back(event.json()); }
    void flush() override {}

  private:
    std::vector<nlohmann::json>& out_;
};

}  // namespace palisade::testing
