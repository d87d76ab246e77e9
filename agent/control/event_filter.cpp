#include "control/event_filter.h"

#include <fnmatch.h>

#include <sstream>

namespace palisade {

std::optional<EventFilter> EventFilter::parse(const std::string& expr, std::string& error) {
    EventFilter f;
    std::stringstream in(expr);
    std::string term;
    while (std::getline(in, term, ',')) {
        if (term.empty()) continue;
        auto eq = term.find('=');
        if (eq == std::string::npos || eq == 0) {
            error = "filter term \"" + term + "\" is not FIELD=VALUE";
            return std::nullopt;
        }
        std::string path = "/" + term.substr(0, eq);
        for (auto& ch : path) {
            if (ch == '.') ch = '/';
        }
        try {
            f.terms_.push_back({nlohmann::json::json_pointer(path), term.substr(eq + 1)});
        } catch (const nlohmann::json::exception&) {
            error = "filter field \"" + term.substr(0, eq) + "\" is not a field path";
            return std::nullopt;
        }
    }
    return f;
}

bool EventFilter::matches(const nlohmann::json& event) const {
    // A client's field path can still be one nlohmann refuses on this event
    // (an array index out of range of size_t): that is "no match", never an
    // exception out of the agent's event path.
    try {
        for (const auto& t : terms_) {
            if (!event.contains(t.field)) return false;
            const auto& v = event.at(t.field);
            std::string text =
                v.is_string() ? v.get<std::string>()
                              : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            if (fnmatch(t.glob.c_str(), text.c_str(), 0) != 0) return false;
        }
        return true;
    } catch (const nlohmann::json::exception&) {
        return false;
    }
}

}  // namespace palisade
