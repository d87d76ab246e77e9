// The Prometheus text exposition format (version 0.0.4), written by hand: a
// page of families, each a HELP and TYPE line and its samples. Debian 12 has
// no prometheus-cpp; what the agent exports is a snapshot it renders itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace palisade {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class Exposition {
  public:
    // Starts a family ("counter", "gauge" or "histogram"); the samples that
    // follow belong to it.
    void family(std::string_view name, std::string_view type, std::string_view help);
    // One sample line. `name` is the family's name, or for a histogram the
    // family's name with _bucket, _sum or _count.
    void sample(std::string_view name, const MetricLabels& labels, double value);
    void sample(std::string_view name, const MetricLabels& labels, uint64_t value);
    const std::string& text() const { return out_; }

  private:
    void labels(const MetricLabels& labels);
    std::string out_;
};

// A histogram with fixed upper bounds (seconds, say), cumulative as
// Prometheus wants its buckets.
class Histogram {
  public:
    explicit Histogram(std::vector<double> upperBounds);
    void observe(double value);
    void render(Exposition& out, const std::string& name, std::string_view help) const;
    uint64_t count() const { return count_; }

  private:
    std::vector<double> bounds_;
    std::vector<uint64_t> counts_;  // per bucket, not cumulative; the last is +Inf
    double sum_ = 0;
    uint64_t count_ = 0;
};

}  // namespace palisade
