// datapath/pin_stage.h, on plain files standing for pinned links (no bpffs, no
// root): BpfDatapath::attach() pins its new links through a PinStage, so a run
// that fails at program N leaves the pins exactly as they were, and one that
// succeeds replaces the previous agent's pins.
#include "datapath/pin_stage.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "datapath/datapath.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

class PinStageTest : public testing::Test {
  protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "pal-pins-XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        dir_ = pattern;
    }
    void TearDown() override { fs::remove_all(dir_); }

    // A "pin": a file that says which link it holds. As bpf_obj_pin, it
    // refuses a path that exists and a name with a dot (bpffs keeps those).
    static std::function<int(const char*)> pinning(const std::string& link) {
        return [link](const char* path) {
            if (fs::exists(path)) return -EEXIST;
            if (fs::path(path).filename().string().find('.') != std::string::npos) return -EPERM;
            std::ofstream(path) << link;
            return 0;
        };
    }
    void pinOld(const std::string& name) { std::ofstream(dir_ / name) << "old"; }
    std::string at(const std::string& name) const {
        std::ifstream in(dir_ / name);
        std::string text;
        std::getline(in, text);
        return text;
    }
    std::set<std::string> names() const {
        std::set<std::string> out;
        for (const auto& e : fs::directory_iterator(dir_)) out.insert(e.path().filename());
        return out;
    }

    fs::path dir_;
};

TEST_F(PinStageTest, CommitReplacesThePreviousPins) {
    pinOld("pal_connect4");
    {
        PinStage pins(dir_);
        EXPECT_EQ(pins.finalPath("pal_connect4"), dir_ / "pal_connect4");
        pins.stage("pal_connect4", pinning("new"));
        pins.stage("pal_sys_enter", pinning("new"));
        // Until the commit the previous agent's pins stay in force.
        EXPECT_EQ(at("pal_connect4"), "old");
        EXPECT_FALSE(fs::exists(dir_ / "pal_sys_enter"));
        pins.commit();
    }
    EXPECT_EQ(names(), (std::set<std::string>{"pal_connect4", "pal_sys_enter"}));
    EXPECT_EQ(at("pal_connect4"), "new");
    EXPECT_EQ(at("pal_sys_enter"), "new");
}

// A pin of a program this run does not have (an earlier build's, another exec
// mechanism's) goes at the commit; one kept (updated in place) stays.
TEST_F(PinStageTest, CommitRemovesThePinsOfOtherPrograms) {
    pinOld("pal_connect4");
    pinOld("pal_skb_egress");
    pinOld("pal_execve_in");
    std::ofstream(dir_ / "pal_old-staged") << "crashed";
    {
        PinStage pins(dir_);
        pins.stage("pal_connect4", pinning("new"));
        pins.keep("pal_skb_egress");
        pins.commit();
    }
    EXPECT_EQ(names(), (std::set<std::string>{"pal_connect4", "pal_skb_egress"}));
    EXPECT_EQ(at("pal_skb_egress"), "old");
}

// Attaching program 3 failed (attach() throws before the commit): the pins of
// programs 1 and 2 go, the previous agent's stay untouched.
TEST_F(PinStageTest, AFailedRunLeavesThePinsAsTheyWere) {
    pinOld("pal_connect4");
    pinOld("pal_skb_egress");
    try {
        PinStage pins(dir_);
        pins.stage("pal_connect4", pinning("new"));
        pins.stage("pal_connect6", pinning("new"));
        throw std::runtime_error("attach pal_sys_enter: No such file or directory");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(names(), (std::set<std::string>{"pal_connect4", "pal_skb_egress"}));
    EXPECT_EQ(at("pal_connect4"), "old");
    EXPECT_EQ(at("pal_skb_egress"), "old");
}

// Pinning program 3 failed: stage() throws with the path and errno text, and
// the stage removes the pins of programs 1 and 2.
TEST_F(PinStageTest, AFailedPinLeavesThePinsAsTheyWere) {
    pinOld("pal_connect6");
    try {
        PinStage pins(dir_);
        pins.stage("pal_connect4", pinning("new"));
        pins.stage("pal_connect6", pinning("new"));
        pins.stage("pal_sendmsg4", [](const char*) { return -EPERM; });
        ADD_FAILURE() << "stage() did not throw";
    } catch (const DatapathError& e) {
        EXPECT_EQ(std::string(e.what()),
                  "pin " + (dir_ / "pal_sendmsg4-staged").string() + ": Operation not permitted");
    }
    EXPECT_EQ(names(), std::set<std::string>{"pal_connect6"});
    EXPECT_EQ(at("pal_connect6"), "old");
}

// A staging pin an agent that crashed mid-start left behind is replaced.
TEST_F(PinStageTest, ReplacesALeftoverStagingPin) {
    std::ofstream(dir_ / "pal_connect4-staged") << "crashed";
    PinStage pins(dir_);
    pins.stage("pal_connect4", pinning("new"));
    pins.commit();
    EXPECT_EQ(names(), std::set<std::string>{"pal_connect4"});
    EXPECT_EQ(at("pal_connect4"), "new");
}

// A commit that fails half-way keeps what it moved (in force: the pins it
// replaced are gone) and removes the rest, naming the pin it could not move.
TEST_F(PinStageTest, AFailedCommitRemovesWhatItDidNotMove) {
    try {
        PinStage pins(dir_);
        pins.stage("pal_connect4", pinning("new"));
        pins.stage("pal_connect6", pinning("new"));
        fs::create_directories(dir_ / "pal_connect6" / "busy");  // rename(2): EISDIR
        pins.commit();
        ADD_FAILURE() << "commit() did not throw";
    } catch (const DatapathError& e) {
        EXPECT_NE(std::string(e.what()).find("pin " + (dir_ / "pal_connect6").string() + ": "),
                  std::string::npos)
            << e.what();
    }
    EXPECT_EQ(names(), (std::set<std::string>{"pal_connect4", "pal_connect6"}));
    EXPECT_EQ(at("pal_connect4"), "new");
    EXPECT_TRUE(fs::is_directory(dir_ / "pal_connect6"));
}

}  // namespace
}  // namespace palisade
