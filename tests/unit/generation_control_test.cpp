// The daemon's generation logic against a fake datapath (no root, no kernel):
// when a container change takes the fast path and when it needs a generation,
// what a failed compile leaves in force, and the events each step publishes.
#include "daemon/generation_control.h"

#include <gtest/gtest.h>

#include "captured_events.h"
#include "daemon/container_inventory.h"
#include "daemon/event_pump.h"
#include "fake_datapath.h"
#include "temp_dir.h"

namespace palisade {
namespace {

using testing::FakeDatapath;
using testing::TempDir;
using Start = GenerationControl::Start;

std::string policy(const std::string& name, const std::string& selectorName,
                   const std::string& extraRule = "") {
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: " + name +
           "}\nspec:\n  selector: {name: \"" + selectorName +
           "\"}\n  egress:\n    - toCIDR: [\"198.18.0.0/16\"]\n      ports: [{port: 443, "
           "protocol: TCP}]\n" +
           extraRule;
}

Container container(const std::string& name, uint64_t cgroupId) {
    Container c;
    c.id = std::string(64 - std::to_string(cgroupId).size(), 'a') + std::to_string(cgroupId);
    c.runtime = "docker";
    c.name = name;
    c.cgroupPath = "/sys/fs/cgroup/docker/" + c.id;
    c.cgroupId = cgroupId;
    return c;
}

class GenerationControlTest : public ::testing::Test {
  protected:
    GenerationControlTest() : bus_({}), pump_(bus_, clock_) {
        bus_.add(std::make_unique<testing::CapturedEvents>(events_));
    }

    void writePolicy(const std::string& file, const std::string& yaml) { dir_.write(file, yaml); }
    void loadPolicies() { ASSERT_TRUE(store_.reload(dir_.path().string()).errors.empty()); }
    InventoryDiff scan(std::vector<Container> found) {
        return inventory_.replace(std::move(found));
    }
    GenerationControl& control() {
        if (!control_) {
            control_ = std::make_unique<GenerationControl>(datapath_, store_, inventory_, defaults_,
                                                           pump_);
        }
        return *control_;
    }
    std::vector<std::string> actions() const {
        std::vector<std::string> out;
        for (const auto& e : events_) out.push_back(e["event"]["action"]);
        return out;
    }

    TempDir dir_;
    Clock clock_;
    EventBus bus_;
    EventPump pump_;
    std::vector<nlohmann::json> events_;
    PolicyStore store_;
    ContainerInventory inventory_;
    Config::Defaults defaults_;
    FakeDatapath datapath_;
    std::unique_ptr<GenerationControl> control_;
};

TEST_F(GenerationControlTest, FirstGenerationIsCompiledAppliedAndAnnounced) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    EXPECT_EQ(control().generation(), 1u);
    ASSERT_EQ(datapath_.applied.size(), 1u);
    EXPECT_EQ(datapath_.applied[0].generation, 1u);
    EXPECT_EQ(datapath_.retired, 1);
    ASSERT_TRUE(datapath_.cgroups.count(10));
    const auto* names = control().policiesOf(datapath_.cgroups.at(10).epid);
    ASSERT_NE(names, nullptr);
    EXPECT_EQ(*names, std::vector<std::string>{"api"});
    ASSERT_EQ(actions(), std::vector<std::string>{"policy-applied"});
    EXPECT_EQ(events_[0]["palisade"]["generation"], 1);
    EXPECT_EQ(events_[0]["palisade"]["policies"], nlohmann::json::array({"api"}));
}

TEST_F(GenerationControlTest, StartsFromTheAdoptedGeneration) {
    datapath_.adoptedGeneration = 7;
    loadPolicies();
    ASSERT_TRUE(control().applyNext());
    EXPECT_EQ(datapath_.applied.at(0).generation, 8u);
}

TEST_F(GenerationControlTest, ContainerOfAPolicySetInForceTakesTheFastPath) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    const uint32_t epid = datapath_.cgroups.at(10).epid;

    control().containersChanged(scan({container("api-1", 10), container("api-2", 11)}));
    EXPECT_EQ(datapath_.applied.size(), 1u) << "no new generation";
    EXPECT_EQ(datapath_.setContainers, 1);
    ASSERT_TRUE(datapath_.cgroups.count(11));
    EXPECT_EQ(datapath_.cgroups.at(11).epid, epid);
    EXPECT_EQ(datapath_.cgroups.at(11).container, 1u) << "its index in the inventory";
    EXPECT_EQ(control().policiesByCgroup().at(11), std::vector<std::string>{"api"});
}

TEST_F(GenerationControlTest, UnmatchedContainerJoinsTheUnmatchedSetInForce) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10), container("other-1", 20)});
    ASSERT_TRUE(control().applyNext());
    control().containersChanged(
        scan({container("api-1", 10), container("other-1", 20), container("other-2", 21)}));
    EXPECT_EQ(datapath_.applied.size(), 1u);
    EXPECT_EQ(datapath_.cgroups.at(21).epid, datapath_.cgroups.at(20).epid);
}

TEST_F(GenerationControlTest, ContainerOfANewPolicySetNeedsAGeneration) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    control().containersChanged(scan({container("api-1", 10), container("other", 20)}));
    ASSERT_EQ(datapath_.applied.size(), 2u);
    EXPECT_EQ(control().generation(), 2u);
    EXPECT_TRUE(datapath_.cgroups.count(20));
}

TEST_F(GenerationControlTest, TargetOfAToContainersRuleNeedsAGeneration) {
    writePolicy("api.yaml",
                policy("api", "api*",
                       "    - toContainers: {name: db}\n      ports: [{port: 5432, protocol: "
                       "TCP}]\n"));
    writePolicy("db.yaml", policy("db", "db*"));
    loadPolicies();
    scan({container("api-1", 10), container("db-1", 20)});
    ASSERT_TRUE(control().applyNext());
    // "db" exactly is a peer target; its policy set (db) is in force already.
    control().containersChanged(
        scan({container("api-1", 10), container("db-1", 20), container("db", 21)}));
    EXPECT_EQ(datapath_.applied.size(), 2u) << "peer entries must name the new container";
    EXPECT_FALSE(datapath_.applied.back().entries.peers.empty());
}

TEST_F(GenerationControlTest, ChangedMetadataNeedsAGeneration) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10), container("x", 11)});
    ASSERT_TRUE(control().applyNext());
    control().containersChanged(scan({container("api-1", 10), container("api-2", 11)}));
    ASSERT_EQ(datapath_.applied.size(), 2u);
    EXPECT_EQ(control().policiesByCgroup().at(11), std::vector<std::string>{"api"});
}

TEST_F(GenerationControlTest, StoppedContainerLosesItsEntryWithoutAGeneration) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10), container("api-2", 11)});
    ASSERT_TRUE(control().applyNext());
    control().containersChanged(scan({container("api-1", 10)}));
    EXPECT_EQ(datapath_.applied.size(), 1u);
    EXPECT_FALSE(datapath_.cgroups.count(11));
    EXPECT_TRUE(datapath_.cgroups.count(10));
}

TEST_F(GenerationControlTest, PolicySetThatCannotCompileLeavesTheGenerationInForce) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    std::string many = policy("many", "api*");
    many += "    - toCIDR: [\"10.0.0.0/8\"]\n      ports:\n";
    for (int i = 0; i <= PAL_MAX_PORT_RANGES; i++) {
        many += "        - {port: " + std::to_string(1000 + 2 * i) + ", protocol: TCP}\n";
    }
    writePolicy("many.yaml", many);
    loadPolicies();
    events_.clear();
    EXPECT_FALSE(control().applyNext());
    EXPECT_EQ(control().generation(), 1u);
    EXPECT_EQ(datapath_.applied.size(), 1u);
    ASSERT_EQ(actions(), std::vector<std::string>{"policy-rejected"});
    EXPECT_NE(events_[0]["palisade"]["file"].get<std::string>().find("many.yaml"),
              std::string::npos);
}

// A generation the maps cannot take (issue 19: a 140,000-CIDR policy used to
// end the agent, again at every restart) is a policy-rejected event naming
// the files and the numbers; the generation in force stays, the agent goes on.
TEST_F(GenerationControlTest, GenerationTheMapsCannotTakeLeavesTheGenerationInForce) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    writePolicy("big.yaml", policy("big", "api*"));
    loadPolicies();
    events_.clear();
    datapath_.refuseApply = "pal_lpm4 needs 140000 entries, has room for 131072";
    EXPECT_FALSE(control().applyNext());
    EXPECT_EQ(control().generation(), 1u);
    EXPECT_EQ(datapath_.applied.size(), 1u);
    EXPECT_EQ(datapath_.retired, 1);
    ASSERT_EQ(actions(), std::vector<std::string>{"policy-rejected"});
    EXPECT_EQ(events_[0]["palisade"]["error"], datapath_.refuseApply);
    EXPECT_EQ(events_[0]["palisade"]["files"].size(), 2u);
    // The policies of the generation in force still name its containers.
    EXPECT_EQ(control().policiesByCgroup().at(10), std::vector<std::string>{"api"});

    datapath_.refuseApply.clear();  // room again (a file removed, say)
    EXPECT_TRUE(control().applyNext());
    EXPECT_EQ(control().generation(), 2u);
}

TEST_F(GenerationControlTest, PolicyNamesOfThePreviousGenerationStayForLateEvents) {
    writePolicy("api.yaml", policy("api", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_TRUE(control().applyNext());
    const uint32_t first = datapath_.cgroups.at(10).epid;
    ASSERT_TRUE(control().applyNext());
    const uint32_t second = datapath_.cgroups.at(10).epid;
    EXPECT_NE(first, second) << "generations use disjoint ids";
    const auto* late = control().policiesOf(first);
    ASSERT_NE(late, nullptr) << "a record still in flight names its policies";
    EXPECT_EQ(*late, std::vector<std::string>{"api"});
}

// A rule of `count` single IPv4 addresses.
std::string hosts(int count) {
    std::string rule = "    - toCIDR:\n";
    for (int i = 0; i < count; i++) rule += "        - 198.19.0." + std::to_string(i + 1) + "/32\n";
    return rule;
}

// Issue 19: a start whose whole set the maps cannot hold puts in force the files that fit, in
// name order, and names the others (limits.tooLargeAtStart: run): never a crash loop.
TEST_F(GenerationControlTest, AtStartTheFilesThatFitAreInForceAndTheOthersNamed) {
    writePolicy("a.yaml", policy("a", "api*"));
    writePolicy("b.yaml", policy("b", "api*", hosts(10)));
    writePolicy("c.yaml", policy("c", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    datapath_.maxPrefixes4 = 5;
    ASSERT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Run), Start::InForce);
    EXPECT_EQ(control().generation(), 1u);
    EXPECT_EQ(control().policiesByCgroup().at(10), std::vector<std::string>{"a"});
    EXPECT_EQ(actions(), (std::vector<std::string>{"policy-applied", "policy-rejected"}));
    const nlohmann::json& rejected = events_.back()["palisade"];
    ASSERT_EQ(rejected["files"].size(), 2u);
    EXPECT_TRUE(rejected["files"][0].get<std::string>().ends_with("/b.yaml"));
    EXPECT_TRUE(rejected["files"][1].get<std::string>().ends_with("/c.yaml"));
    const std::string error = rejected["error"];
    EXPECT_NE(error.find("left out at start"), std::string::npos) << error;
    EXPECT_NE(error.find("b.yaml: pal_lpm4 needs 11 entries, has room for 5"), std::string::npos)
        << error;
    ASSERT_EQ(control().notInForce().size(), 2u);
    EXPECT_EQ(control().policySet().files.size(), 1u);

    // The big file goes: everything is in force again.
    std::filesystem::remove(dir_.path() / "b.yaml");
    loadPolicies();
    ASSERT_TRUE(control().applyNext());
    EXPECT_EQ(control().policiesByCgroup().at(10), (std::vector<std::string>{"a", "c"}));
    EXPECT_TRUE(control().notInForce().empty());
}

// A set that fits empty maps but not beside the generation an earlier agent left: nothing
// is written, and the caller opens new maps for it.
TEST_F(GenerationControlTest, AtStartASetThatFitsOnlyInEmptyMapsAsksForThem) {
    writePolicy("b.yaml", policy("b", "api*", hosts(10)));
    loadPolicies();
    scan({container("api-1", 10)});
    datapath_.adoptedGeneration = 3;
    datapath_.maxPrefixes4 = 15;
    datapath_.prefixes4InForce = 11;
    EXPECT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Run), Start::NeedsEmptyMaps);
    EXPECT_TRUE(datapath_.applied.empty());
    EXPECT_TRUE(actions().empty());
}

TEST_F(GenerationControlTest, AtStartATooLargeSetIsRefusedWhenConfiguredSo) {
    writePolicy("a.yaml", policy("a", "api*"));
    writePolicy("b.yaml", policy("b", "api*", hosts(10)));
    loadPolicies();
    scan({container("api-1", 10)});
    datapath_.maxPrefixes4 = 5;
    EXPECT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Refuse), Start::Failed);
    EXPECT_TRUE(datapath_.applied.empty());
    ASSERT_EQ(actions(), std::vector<std::string>{"policy-rejected"});
    EXPECT_EQ(events_[0]["palisade"]["files"].size(), 2u);
}

// After a rejected change, containers that come get the policies in force, not the
// rejected ones: the fast path and a generation both.
TEST_F(GenerationControlTest, ContainersAfterARejectedChangeGetThePoliciesInForce) {
    writePolicy("a.yaml", policy("a", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Run), Start::InForce);
    writePolicy("b.yaml", policy("b", "*", hosts(10)));
    loadPolicies();
    datapath_.maxPrefixes4 = 5;
    EXPECT_FALSE(control().applyNext());
    ASSERT_EQ(control().notInForce().size(), 1u);

    control().containersChanged(scan({container("api-1", 10), container("api-2", 11)}));
    EXPECT_EQ(datapath_.setContainers, 1) << "the fast path, with the set in force";
    EXPECT_EQ(control().policiesByCgroup().at(11), std::vector<std::string>{"a"});

    // A container of a new policy set (unmatched under the policies in force) needs a
    // generation: of the policies in force, which fit.
    control().containersChanged(
        scan({container("api-1", 10), container("api-2", 11), container("db", 12)}));
    EXPECT_EQ(control().generation(), 2u);
    EXPECT_EQ(control().policiesByCgroup().at(12), std::vector<std::string>{});
    EXPECT_TRUE(control().inForce(12));
    EXPECT_EQ(control().notInForce().size(), 1u) << "b.yaml is still not in force";
}

// pal_cgroups full (limits.containers): the container is not enforced, an event says so,
// and the agent goes on.
TEST_F(GenerationControlTest, AContainerThePalCgroupsMapCannotTakeIsNamed) {
    writePolicy("a.yaml", policy("a", "api*"));
    loadPolicies();
    scan({container("api-1", 10)});
    ASSERT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Run), Start::InForce);
    datapath_.maxContainers = 1;
    events_.clear();
    control().containersChanged(scan({container("api-1", 10), container("api-2", 11)}));
    EXPECT_FALSE(control().inForce(11));
    EXPECT_TRUE(control().inForce(10));
    ASSERT_EQ(actions(), std::vector<std::string>{"policy-rejected"});
    EXPECT_EQ(events_[0]["palisade"]["cgroupId"], 11);
    EXPECT_NE(events_[0]["palisade"]["error"].get<std::string>().find("pal_cgroups is full"),
              std::string::npos);
}

// More containers than pal_cgroups holds is not the policies' fault: the files go in force,
// the newest cgroups beyond the room wait, named once, and get their entries when others stop.
TEST_F(GenerationControlTest, ContainersBeyondPalCgroupsWaitNamedAndGetRoomLater) {
    writePolicy("a.yaml", policy("a", "api*"));
    loadPolicies();
    scan({container("api-1", 10), container("api-2", 11), container("api-3", 12)});
    datapath_.maxContainers = 2;
    ASSERT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Refuse), Start::InForce);
    EXPECT_TRUE(control().inForce(10));
    EXPECT_TRUE(control().inForce(11));
    EXPECT_FALSE(control().inForce(12));
    ASSERT_EQ(actions(), (std::vector<std::string>{"policy-applied", "policy-rejected"}));
    EXPECT_EQ(events_[1]["palisade"]["cgroupId"], 12);
    EXPECT_FALSE(events_[1]["palisade"].contains("files")) << "no file is at fault";
    EXPECT_NE(events_[1]["palisade"]["error"].get<std::string>().find("limits.containers"),
              std::string::npos);
    EXPECT_TRUE(control().notInForce().empty());

    // A policy change: the one waiting is not named again.
    writePolicy("b.yaml", policy("b", "api*"));
    loadPolicies();
    events_.clear();
    ASSERT_TRUE(control().applyNext());
    EXPECT_FALSE(control().inForce(12));
    EXPECT_EQ(actions(), (std::vector<std::string>{"policy-applied", "policy-applied"}));

    // api-2 stops: api-3 gets its room.
    control().containersChanged(scan({container("api-1", 10), container("api-3", 12)}));
    EXPECT_TRUE(control().inForce(12));
    EXPECT_EQ(datapath_.cgroups.count(12), 1u);
    EXPECT_EQ(datapath_.cgroups.count(11), 0u);
}

// An earlier agent's map still holds a container that stopped while no agent ran: its entry
// goes with the first generation, and the room it leaves goes to the container that waited.
TEST_F(GenerationControlTest, RoomLeftByTheAdoptedGenerationGoesToWaitingContainers) {
    writePolicy("a.yaml", policy("a", "api*"));
    loadPolicies();
    scan({container("api-1", 10), container("api-2", 11)});
    datapath_.maxContainers = 2;
    datapath_.cgroups[9] = {};  // gone since
    ASSERT_EQ(control().applyFirst(Config::Limits::TooLargeAtStart::Run), Start::InForce);
    EXPECT_TRUE(control().inForce(10));
    EXPECT_TRUE(control().inForce(11));
    EXPECT_EQ(datapath_.cgroups.count(9), 0u);
    EXPECT_EQ(datapath_.applied.size(), 2u) << "a second generation for the one that waited";
}

}  // namespace
}  // namespace palisade
