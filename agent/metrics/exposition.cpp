#include "metrics/exposition.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace palisade {
namespace {

// Label values escape backslash, double quote and newline; HELP text the
// backslash and newline.
std::string escape(std::string_view text, bool quote) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
    return out;
}

std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return ec == std::errc() ? std::string(buf, end) : "NaN";
}

}  // namespace

void Exposition::family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape(help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void Exposition::labels(const MetricLabels& labels) {
    if (labels.empty()) return;
    out_ += '{';
    for (size_t i = 0; i < labels.size(); i++) {
        if (i) out_ += ',';
        out_ += labels[i].first;
        out_ += "=\"";
        out_ += escape(labels[i].second, true);
        out_ += '"';
    }
    out_ += '}';
}

void Exposition::sample(std::string_view name, const MetricLabels& l, double value) {
    out_ += name;
    labels(l);
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
}

void Exposition::sample(std::string_view name, const MetricLabels& l, uint64_t value) {
    out_ += name;
    labels(l);
    out_ += ' ';
    out_ += std::to_string(value);
    out_ += '\n';
}

Histogram::Histogram(std::vector<double> upperBounds) : bounds_(std::move(upperBounds)) {
    std::sort(bounds_.begin(), bounds_.end());
    counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double value) {
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), value);  // le: value <= bound
    counts_[static_cast<size_t>(it - bounds_.begin())]++;
    sum_ += value;
    count_++;
}

void Histogram::render(Exposition& out, const std::string& name, std::string_view help) const {
    out.family(name, "histogram", help);
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); i++) {
        cumulative += counts_[i];
        out.sample(name + "_bucket",
                   {{"le", i < bounds_.size() ? number(bounds_[i]) : std::string("+Inf")}},
                   cumulative);
    }
    out.sample(name + "_sum", {}, sum_);
    out.sample(name + "_count", {}, count_);
}

}  // namespace palisade
