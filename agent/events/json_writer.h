// Writes one JSON object into a string as it goes: no tree, no allocation
// beyond the string's. Strings are escaped by nlohmann::json unless they are
// plain printable ASCII (the usual case: names, ids, addresses), which is
// copied as is.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace palisade {

class JsonWriter {
  public:
    explicit JsonWriter(std::string& out) : out_(out) { out_ += '{'; }

    // "key": "value"
    void string(std::string_view key, std::string_view value) {
        name(key);
        quoted(value);
    }
    void number(std::string_view key, uint64_t value) {
        name(key);
        out_ += std::to_string(value);
    }
    void boolean(std::string_view key, bool value) {
        name(key);
        out_ += value ? "true" : "false";
    }
    // "key": {...}: write the members, then end().
    JsonWriter& object(std::string_view key) {
        name(key);
        out_ += '{';
        first_ = true;
        return *this;
    }
    // "key": ["a", "b"]
    template <typename Strings>
    void strings(std::string_view key, const Strings& values) {
        name(key);
        out_ += '[';
        bool first = true;
        for (const auto& v : values) {
            if (!first) out_ += ',';
            first = false;
            quoted(v);
        }
        out_ += ']';
    }
    // Closes the innermost open object (the last one closes the whole).
    void end() {
        out_ += '}';
        first_ = false;
    }

    // `value` as a JSON string, quotes included.
    void quoted(std::string_view value) {
        for (unsigned char c : value) {
            if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
                out_ += nlohmann::json(std::string(value))
                            .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
                return;
            }
        }
        out_ += '"';
        out_ += value;
        out_ += '"';
    }

  private:
    void name(std::string_view key) {
        if (!first_) out_ += ',';
        first_ = false;
        quoted(key);
        out_ += ':';
    }

    std::string& out_;
    bool first_ = true;
};

}  // namespace palisade
