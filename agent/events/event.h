// One event on its way to the sinks and `palisade events` subscribers: its
// JSON line, and the parsed object only when something needs its fields (a
// subscriber's filter). Kernel records are written as lines directly
// (events/event_format.cpp): a tree per event cost half the agent's time at
// 150,000 events/s (docs/reference/targets.md).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace palisade {

class Event {
  public:
    explicit Event(std::string line) : line_(std::move(line)) {}
    // Invalid UTF-8 in `object`'s strings is replaced, never thrown on.
    static Event fromJson(const nlohmann::json& object) {
        return Event(object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }

    // Without the newline.
    const std::string& line() const { return line_; }
    // Parsed on first use.
    const nlohmann::json& json() const {
        if (!json_) json_ = nlohmann::json::parse(line_);
        return *json_;
    }

  private:
    std::string line_;
    mutable std::optional<nlohmann::json> json_;
};

}  // namespace palisade
