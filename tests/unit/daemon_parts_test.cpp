// The daemon's smaller parts: what a scan changed (ContainerInventory), the
// events the pump derives from kernel records and counts (EventPump), and the
// main loop's timers.
#include <gtest/gtest.h>

#include <filesystem>

#include "captured_events.h"
#include "daemon/container_inventory.h"
#include "daemon/event_pump.h"
#include "daemon/generation_control.h"
#include "daemon/timers.h"
#include "fake_datapath.h"
#include "palisade/abi.h"
#include "temp_dir.h"

namespace palisade {
namespace {

using testing::FakeDatapath;

Container container(const std::string& name, uint64_t cgroupId) {
    Container c;
    c.id = std::string(63, 'b') + std::to_string(cgroupId % 10);
    c.runtime = "docker";
    c.name = name;
    c.cgroupId = cgroupId;
    return c;
}

// ------------------------------------------------------------ ContainerInventory

TEST(ContainerInventory, SaysWhatStartedStoppedAndChanged) {
    ContainerInventory inv;
    auto first = inv.replace({container("a", 1), container("b", 2)});
    EXPECT_EQ(first.started.size(), 2u);
    EXPECT_TRUE(first.changed());

    auto same = inv.replace({container("a", 1), container("b", 2)});
    EXPECT_FALSE(same.changed());

    auto next = inv.replace({container("b", 2), container("c", 3)});
    ASSERT_EQ(next.started.size(), 1u);
    EXPECT_EQ(next.started[0].name, "c");
    ASSERT_EQ(next.stopped.size(), 1u);
    EXPECT_EQ(next.stopped[0].name, "a");
    EXPECT_FALSE(next.metadataChanged);

    auto renamed = inv.replace({container("b2", 2), container("c", 3)});
    EXPECT_TRUE(renamed.metadataChanged);
    EXPECT_TRUE(renamed.started.empty());
}

TEST(ContainerInventory, MetadataChangeIsSeenBesideArrivals) {
    ContainerInventory inv;
    inv.replace({container("a", 1)});
    auto diff = inv.replace({container("a-renamed", 1), container("b", 2)});
    EXPECT_EQ(diff.started.size(), 1u);
    EXPECT_TRUE(diff.metadataChanged) << "a's new name must reach its selection";
}

// The agent warns about each container in metadataUnreadable: once, not at every rescan.
TEST(ContainerInventory, UnreadableMetadataIsReportedOncePerContainer) {
    ContainerInventory inv;
    Container broken = container("", 1);
    broken.metadataError = "/var/lib/docker/containers/b/config.v2.json: not JSON";
    auto first = inv.replace({broken, container("b", 2)});
    ASSERT_EQ(first.metadataUnreadable.size(), 1u);
    EXPECT_EQ(first.metadataUnreadable[0].cgroupId, 1u);
    EXPECT_EQ(first.metadataUnreadable[0].metadataError, broken.metadataError);

    EXPECT_TRUE(inv.replace({broken, container("b", 2)}).metadataUnreadable.empty());

    auto repaired = inv.replace({container("a", 1), container("b", 2)});
    EXPECT_TRUE(repaired.metadataUnreadable.empty());
    EXPECT_TRUE(repaired.metadataChanged) << "its name must reach its selection";

    auto brokenAgain = inv.replace({broken, container("b", 2)});
    ASSERT_EQ(brokenAgain.metadataUnreadable.size(), 1u);
    EXPECT_TRUE(brokenAgain.metadataChanged);
}

TEST(ContainerInventory, FindsByCgroupId) {
    ContainerInventory inv;
    inv.replace({container("a", 1), container("b", 2)});
    ASSERT_NE(inv.find(2), nullptr);
    EXPECT_EQ(inv.find(2)->name, "b");
    EXPECT_EQ(inv.indexOf(2), 1u);
    EXPECT_EQ(inv.find(9), nullptr);
    EXPECT_FALSE(inv.indexOf(9));
}

// --------------------------------------------------------------------- EventPump

class EventPumpTest : public ::testing::Test {
  protected:
    EventPumpTest() : bus_({}), pump_(bus_, clock_) {
        bus_.add(std::make_unique<testing::CapturedEvents>(events_));
        inventory_.replace({container("noisy", 5)});
    }
    Clock clock_;
    EventBus bus_;
    EventPump pump_;
    std::vector<nlohmann::json> events_;
    ContainerInventory inventory_;
};

TEST_F(EventPumpTest, SuppressedEventsAreReportedAsTheyGrow) {
    pump_.reportSuppressed({{5, 40}}, inventory_, true);
    EXPECT_TRUE(events_.empty()) << "what adopted buckets hold was reported before";
    pump_.reportSuppressed({{5, 40}}, inventory_);
    EXPECT_TRUE(events_.empty()) << "nothing new";
    pump_.reportSuppressed({{5, 55}, {77, 3}}, inventory_);
    ASSERT_EQ(events_.size(), 2u);
    EXPECT_EQ(events_[0]["event"]["action"], "events-suppressed");
    EXPECT_EQ(events_[0]["container"]["name"], "noisy");
    EXPECT_EQ(events_[0]["palisade"]["count"], 15);
    EXPECT_EQ(events_[1]["palisade"]["cgroupId"], 77) << "a cgroup no longer known";
    EXPECT_EQ(events_[1]["palisade"]["count"], 3);
    EXPECT_EQ(pump_.suppressed(), 18u);
    EXPECT_EQ(pump_.emitted(), 2u);
}

// A container's security events have a bucket of their own, keyed with
// PAL_RATELIMIT_SECURITY: reported for the container, with the class.
TEST_F(EventPumpTest, SecurityBucketIsReportedForItsContainer) {
    pump_.reportSuppressed({{5, 7}, {5 | PAL_RATELIMIT_SECURITY, 2}}, inventory_);
    ASSERT_EQ(events_.size(), 2u);
    EXPECT_EQ(events_[0]["palisade"]["class"], "network");
    EXPECT_EQ(events_[0]["palisade"]["count"], 7);
    EXPECT_EQ(events_[1]["container"]["name"], "noisy");
    EXPECT_EQ(events_[1]["palisade"]["class"], "security");
    EXPECT_EQ(events_[1]["palisade"]["count"], 2);
}

TEST_F(EventPumpTest, AnEvictedBucketCountsFromZeroAgain) {
    pump_.reportSuppressed({{5, 100}}, inventory_);
    pump_.reportSuppressed({{5, 4}}, inventory_);  // the LRU map made a new bucket
    ASSERT_EQ(events_.size(), 2u);
    EXPECT_EQ(events_[1]["palisade"]["count"], 4);
}

TEST_F(EventPumpTest, ShortRecordsAreDropped) {
    FakeDatapath datapath;
    PolicyStore store;
    Config::Defaults defaults;
    GenerationControl generations(datapath, store, inventory_, defaults, pump_);
    pal_event_header h{};
    pump_.onRecord(&h, sizeof(h) - 1, inventory_, generations);
    EXPECT_TRUE(events_.empty());
    EXPECT_EQ(pump_.emitted(), 0u);
}

// -------------------------------------------------------------------- PolicyStore

TEST(PolicyStore, ADirectoryThatCannotBeReadKeepsThePoliciesInForce) {
    testing::TempDir dir;
    dir.write("policies/api.yaml",
              "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: api}\n"
              "spec:\n  selector: {name: api}\n  egress: []\n");
    PolicyStore store;
    const std::string policyDir = dir / "policies";
    ASSERT_TRUE(store.reload(policyDir).changed());
    ASSERT_EQ(store.policies().size(), 1u);

    std::filesystem::rename(policyDir, dir / "elsewhere");
    auto outcome = store.reload(policyDir);
    EXPECT_FALSE(outcome.changed()) << "not read is not deleted";
    EXPECT_TRUE(outcome.removed.empty());
    ASSERT_EQ(outcome.errors.size(), 1u);
    EXPECT_NE(outcome.errors[0].str().find("the policies in force stay"), std::string::npos);
    EXPECT_EQ(store.policies().size(), 1u);
}

// ------------------------------------------------------------------------ timers

TEST(Periodic, DueOncePerPeriodWithoutCatchingUp) {
    const auto t0 = SteadyClock::time_point{};
    Periodic p(std::chrono::seconds(1), t0);
    EXPECT_FALSE(p.due(t0 + std::chrono::milliseconds(999)));
    EXPECT_TRUE(p.due(t0 + std::chrono::seconds(1)));
    EXPECT_FALSE(p.due(t0 + std::chrono::milliseconds(1500)));
    EXPECT_TRUE(p.due(t0 + std::chrono::seconds(5)));  // late: once, not four times
    EXPECT_FALSE(p.due(t0 + std::chrono::milliseconds(5500)));
    EXPECT_EQ(p.next(), t0 + std::chrono::seconds(6));
}

TEST(PollTimeout, EarliestDeadlineWithinBounds) {
    const auto now = SteadyClock::time_point{} + std::chrono::seconds(10);
    EXPECT_EQ(pollTimeoutMs(now, {std::nullopt}, 100), 100);
    EXPECT_EQ(pollTimeoutMs(now, {now + std::chrono::milliseconds(20)}, 100), 20);
    EXPECT_EQ(pollTimeoutMs(now, {now + std::chrono::microseconds(1)}, 100), 1) << "rounded up";
    EXPECT_EQ(pollTimeoutMs(now, {now - std::chrono::seconds(1)}, 100), 0) << "overdue";
    EXPECT_EQ(pollTimeoutMs(now, {now + std::chrono::seconds(5)}, 100), 100);
}

}  // namespace
}  // namespace palisade
