// datapath/hooks.h: the one table from hook id to program, section and action
// agrees with the BPF object as built (its skeleton, opened: no root needed),
// and events, the status and the metrics name hooks by it.
#include "datapath/hooks.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <string_view>

namespace palisade {
namespace {

TEST(Hooks, TableIsTheObjectsPrograms) {
    std::map<std::string, std::string> inObject;  // program -> section
    for (const ObjectProgram& p : objectPrograms()) inObject[p.name] = p.section;
    std::map<std::string, std::string> inTable;
    for (const Hook& h : hookTable()) inTable[h.program] = h.section;
    EXPECT_EQ(inTable, inObject);
}

// Classic tracepoints and kprobes attach through perf_event_open(), which a
// kernel with perf_event_paranoid above 2 (Debian's default) refuses without
// CAP_SYS_ADMIN, and tracepoints need tracefs mounted: the agent has neither
// (systemd/palisade.service).
TEST(Hooks, NoProgramNeedsPerfEventOpen) {
    for (const ObjectProgram& p : objectPrograms()) {
        for (std::string_view perf : {"tracepoint/", "tp/", "kprobe/", "kretprobe/", "uprobe"}) {
            EXPECT_FALSE(p.section.starts_with(perf)) << p.name << " in " << p.section;
        }
    }
}

TEST(Hooks, EveryIdOfAProgramOnce) {
    std::set<int> ids;
    for (const Hook& h : hookTable()) {
        EXPECT_NE(h.id, PAL_HOOK_NONE) << h.program;
        EXPECT_LT(h.id, PAL_HOOK_MAX) << h.program;
        EXPECT_TRUE(ids.insert(h.id).second) << "hook id " << int{h.id} << " twice";
        EXPECT_EQ(hookById(h.id), &h);
        EXPECT_EQ(hookByProgram(h.program), &h);
        EXPECT_STRNE(h.action, "") << h.program;
    }
    // Every id below PAL_HOOK_MAX has a program.
    EXPECT_EQ(ids.size(), size_t{PAL_HOOK_MAX} - 1);
}

// palisade.mechanism is the program's section: what libbpf attaches, what the
// status lists under programs, and what the metrics label verdicts with.
TEST(Hooks, MechanismIsTheSection) {
    EXPECT_STREQ(hookMechanism(PAL_HOOK_CONNECT4), "cgroup/connect4");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_SKB_INGRESS), "cgroup_skb/ingress");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_LSM_BPRM), "lsm/bprm_creds_from_file");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_TP_EXEC), "tp_btf/sched_process_exec");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_TP_SOCKET), "tp_btf/sys_enter");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_NONE), "unknown");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_LSM_SOCKET), "lsm/socket_create");
    EXPECT_STREQ(hookMechanism(PAL_HOOK_MAX), "unknown");
}

TEST(Hooks, Actions) {
    EXPECT_STREQ(hookAction(PAL_HOOK_CONNECT6), "connect");
    EXPECT_STREQ(hookAction(PAL_HOOK_SENDMSG4), "sendmsg");
    EXPECT_STREQ(hookAction(PAL_HOOK_SOCK_CREATE), "socket-create");
    EXPECT_STREQ(hookAction(PAL_HOOK_TP_SOCKET), "socket-create");
    EXPECT_STREQ(hookAction(PAL_HOOK_LSM_SOCKET), "socket-create");
    EXPECT_STREQ(hookAction(PAL_HOOK_BIND4), "bind");
    EXPECT_STREQ(hookAction(PAL_HOOK_BIND6), "bind");
    EXPECT_STREQ(hookAction(PAL_HOOK_SKB_EGRESS), "packet");
    EXPECT_STREQ(hookAction(PAL_HOOK_SKB_INGRESS), "packet");
    EXPECT_STREQ(hookAction(PAL_HOOK_LSM_BPRM), "exec");
    EXPECT_STREQ(hookAction(PAL_HOOK_TP_EXEC), "exec");
}

}  // namespace
}  // namespace palisade
