// `palisade events --filter EXPR`: a conjunction of field=value terms over the
// event's JSON, e.g. "container.name=api,palisade.verdict=deny". Values are
// fnmatch(3) globs; a field is a dotted path. An empty expression matches all.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace palisade {

class EventFilter {
  public:
    // std::nullopt and `error` set when the expression is malformed.
    static std::optional<EventFilter> parse(const std::string& expr, std::string& error);
    bool matches(const nlohmann::json& event) const;
    // An empty expression: every event matches, none needs parsing.
    bool matchesAll() const { return terms_.empty(); }

  private:
    struct Term {
        nlohmann::json::json_pointer field;
        std::string glob;
    };
    std::vector<Term> terms_;
};

}  // namespace palisade
