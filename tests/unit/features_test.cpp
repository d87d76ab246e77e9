// Feature probing: cached, and fakeable so the agent's decisions can be tested
// for any kernel.
#include "datapath/features.h"

#include <gtest/gtest.h>

#include <map>

namespace palisade {
namespace {

class FakeProbe : public FeatureProbe {
  public:
    FakeProbe(std::map<Feature, bool> answers, int& calls)
        : answers_(std::move(answers)), calls_(calls) {}
    bool probe(Feature f) override {
        calls_++;
        return answers_[f];
    }

  private:
    std::map<Feature, bool> answers_;
    int& calls_;
};

TEST(Features, AnswersAreCached) {
    int calls = 0;
    Features f(
        std::make_unique<FakeProbe>(std::map<Feature, bool>{{Feature::RingBuf, true}}, calls));
    EXPECT_TRUE(f.has(Feature::RingBuf));
    EXPECT_TRUE(f.has(Feature::RingBuf));
    EXPECT_FALSE(f.has(Feature::BpfLsmType));
    EXPECT_FALSE(f.has(Feature::BpfLsmType));
    EXPECT_EQ(calls, 2);
}

TEST(Features, MissingForEnforcementNamesWhatIsAbsent) {
    int calls = 0;
    std::map<Feature, bool> all;
    for (Feature x : kAllFeatures) all[x] = true;
    all[Feature::CgroupSkb] = false;
    all[Feature::Btf] = false;
    all[Feature::BpfLsmType] = false;  // optional: never required
    Features f(std::make_unique<FakeProbe>(all, calls));
    auto missing = f.missingForEnforcement();
    ASSERT_EQ(missing.size(), 2u);
    EXPECT_EQ(featureName(missing[0]), "btf");
    EXPECT_EQ(featureName(missing[1]), "cgroup-skb");
}

}  // namespace
}  // namespace palisade
