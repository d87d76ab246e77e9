// PAL_EVENT_EXEC records → docs/reference/events-and-metrics.md `exec` events, and the BPF LSM list
// check.
#include <gtest/gtest.h>

#include <cstring>

#include "datapath/lsm_probe.h"
#include "events/event_format.h"

namespace palisade {
namespace {

constexpr uint64_t kCapNetRaw = uint64_t{1} << 13;

pal_exec_event execEvent(uint8_t hook, uint8_t verdict) {
    pal_exec_event e{};
    e.h.type = PAL_EVENT_EXEC;
    e.h.cgroup_id = 77;
    e.h.pid = 4242;
    e.h.uid = 2001;
    e.h.gid = 2001;
    std::strcpy(e.h.comm, "sh");
    e.h.hook = hook;
    e.h.verdict = verdict;
    e.h.reason = PAL_REASON_SETUID_EXEC;
    e.old_euid = 2001;
    e.new_euid = 0;
    e.old_egid = 2001;
    e.new_egid = 2001;
    e.file_uid = 0;
    e.file_gid = 0;
    e.file_mode = 0100000 | 04755;  // S_IFREG | setuid rwxr-xr-x
    e.privileges = PAL_PRIV_SETUID;
    std::strcpy(e.filename, "/usr/bin/passwd");
    return e;
}

TEST(ExecEvent, FlaggedSetuidExecCarriesEveryField) {
    Container c;
    c.id = std::string(64, 'a');
    c.name = "web";
    c.runtime = "docker";
    auto e = execEvent(PAL_HOOK_LSM_BPRM, PAL_VERDICT_FLAG);
    const std::vector<std::string> policies = {"web-exec"};
    auto j = nlohmann::json::parse(formatExecEvent(e, {&c, &policies}, Clock()));

    EXPECT_EQ(j["event"]["action"], "exec");
    EXPECT_EQ(j["event"]["outcome"], "unknown");
    EXPECT_EQ(j["palisade"]["verdict"], "flag");
    EXPECT_EQ(j["palisade"]["reason"], "setuid-exec");
    EXPECT_EQ(j["palisade"]["mechanism"], "lsm/bprm_creds_from_file");
    EXPECT_FALSE(j["palisade"].contains("enforcement"));
    EXPECT_EQ(j["palisade"]["exec"]["privileges"], nlohmann::json::array({"setuid"}));
    EXPECT_EQ(j["palisade"]["exec"]["raised"], true);
    EXPECT_EQ(j["palisade"]["exec"]["euid"]["old"], "2001");
    EXPECT_EQ(j["palisade"]["exec"]["euid"]["new"], "0");
    EXPECT_EQ(j["palisade"]["exec"]["egid"]["old"], "2001");
    EXPECT_EQ(j["palisade"]["exec"]["egid"]["new"], "2001");
    EXPECT_FALSE(j["palisade"]["exec"].contains("no_new_privs"));
    EXPECT_FALSE(j["palisade"]["exec"].contains("capabilities"));
    EXPECT_FALSE(j["palisade"]["exec"].contains("old_assumed"));
    EXPECT_EQ(j["process"]["executable"], "/usr/bin/passwd");
    EXPECT_EQ(j["process"]["pid"], 4242);
    EXPECT_EQ(j["process"]["name"], "sh");
    EXPECT_EQ(j["process"]["user"]["id"], "2001");
    EXPECT_EQ(j["file"]["path"], "/usr/bin/passwd");
    EXPECT_EQ(j["file"]["mode"], "4755");
    EXPECT_EQ(j["file"]["uid"], "0");
    EXPECT_EQ(j["file"]["gid"], "0");
    EXPECT_EQ(j["container"]["name"], "web");
    EXPECT_EQ(j["container"]["id"], c.id);
    EXPECT_EQ(j["rule"]["name"], "web-exec");
}

TEST(ExecEvent, DenyNamesHowItWasEnforced) {
    auto lsm = nlohmann::json::parse(
        formatExecEvent(execEvent(PAL_HOOK_LSM_BPRM, PAL_VERDICT_DENY), {}, Clock()));
    EXPECT_EQ(lsm["event"]["outcome"], "denied");
    EXPECT_EQ(lsm["palisade"]["verdict"], "deny");
    EXPECT_EQ(lsm["palisade"]["enforcement"], "eperm");

    auto tp = nlohmann::json::parse(
        formatExecEvent(execEvent(PAL_HOOK_TP_EXEC, PAL_VERDICT_DENY), {}, Clock()));
    EXPECT_EQ(tp["palisade"]["mechanism"], "tp_btf/sched_process_exec");
    EXPECT_EQ(tp["palisade"]["enforcement"], "sigkill");
    EXPECT_EQ(tp["container"]["cgroup_id"], 77);

    auto audit = nlohmann::json::parse(
        formatExecEvent(execEvent(PAL_HOOK_TP_EXEC, PAL_VERDICT_AUDIT), {}, Clock()));
    EXPECT_EQ(audit["palisade"]["verdict"], "audit");
    EXPECT_FALSE(audit["palisade"].contains("enforcement"));
}

TEST(ExecEvent, SetgidAndCapabilitiesGained) {
    auto e = execEvent(PAL_HOOK_TP_EXEC, PAL_VERDICT_FLAG);
    e.new_euid = e.old_euid;
    e.new_egid = 3000;
    e.file_mode = 0100000 | 02755;
    e.old_caps = 1;  // CAP_CHOWN, kept
    e.new_caps = 1 | kCapNetRaw;
    e.privileges = PAL_PRIV_SETGID | PAL_PRIV_CAPS;
    e.flags = PAL_EXECF_OLD_ASSUMED;
    auto j = nlohmann::json::parse(formatExecEvent(e, {}, Clock()));
    EXPECT_EQ(j["palisade"]["exec"]["privileges"],
              nlohmann::json::array({"setgid", "capabilities"}));
    EXPECT_EQ(j["palisade"]["exec"]["capabilities"]["gained"],
              nlohmann::json::array({"CAP_NET_RAW"}));
    EXPECT_EQ(j["palisade"]["exec"]["egid"]["new"], "3000");
    EXPECT_EQ(j["palisade"]["exec"]["old_assumed"], true);
    EXPECT_EQ(j["file"]["mode"], "2755");
}

TEST(ExecEvent, NoNewPrivsAttemptIsReportedAsNotRaised) {
    auto e = execEvent(PAL_HOOK_LSM_BPRM, PAL_VERDICT_FLAG);
    e.new_euid = e.old_euid;
    e.flags = PAL_EXECF_NO_NEW_PRIVS;
    auto j = nlohmann::json::parse(formatExecEvent(e, {}, Clock()));
    EXPECT_EQ(j["palisade"]["exec"]["raised"], false);
    EXPECT_EQ(j["palisade"]["exec"]["no_new_privs"], true);
    EXPECT_EQ(j["palisade"]["exec"]["privileges"], nlohmann::json::array({"setuid"}));
    EXPECT_EQ(j["palisade"]["exec"]["euid"]["new"], "2001");
}

TEST(ExecEvent, RecordsAreDispatchedByTypeAndSize) {
    auto e = execEvent(PAL_HOOK_LSM_BPRM, PAL_VERDICT_FLAG);
    auto action = [](const std::string& line) {
        return nlohmann::json::parse(line)["event"]["action"];
    };
    EXPECT_EQ(action(formatRecord(&e, sizeof(e), {}, Clock())), "exec");
    EXPECT_TRUE(formatRecord(&e, sizeof(pal_net_event), {}, Clock()).empty());
    pal_net_event n{};
    n.h.type = PAL_EVENT_SOCKET;
    n.h.hook = PAL_HOOK_SOCK_CREATE;
    EXPECT_EQ(action(formatRecord(&n, sizeof(n), {}, Clock())), "socket-create");
    n.h.type = 99;
    EXPECT_TRUE(formatRecord(&n, sizeof(n), {}, Clock()).empty());
    EXPECT_TRUE(formatRecord(&n, sizeof(n.h) - 1, {}, Clock()).empty());
}

TEST(ExecEvent, CapabilityNamesByBit) {
    EXPECT_EQ(capabilityNames(0), std::vector<std::string>{});
    EXPECT_EQ(capabilityNames(kCapNetRaw | (uint64_t{1} << 21)),
              (std::vector<std::string>{"CAP_NET_RAW", "CAP_SYS_ADMIN"}));
    EXPECT_EQ(capabilityNames(uint64_t{1} << 40),
              std::vector<std::string>{"CAP_CHECKPOINT_RESTORE"});
    EXPECT_EQ(capabilityNames(uint64_t{1} << 63), std::vector<std::string>{"CAP_63"});
}

TEST(LsmList, BpfMustBeOneOfTheNames) {
    EXPECT_TRUE(lsmListHasBpf("lockdown,capability,bpf"));
    EXPECT_TRUE(lsmListHasBpf("bpf\n"));
    EXPECT_TRUE(lsmListHasBpf("capability,landlock,bpf,apparmor\n"));
    EXPECT_FALSE(lsmListHasBpf("lockdown,capability,landlock,yama,apparmor"));
    EXPECT_FALSE(lsmListHasBpf("bpfx,xbpf"));
    EXPECT_FALSE(lsmListHasBpf(""));
}

}  // namespace
}  // namespace palisade
