#include "datapath/hooks.h"

#include <array>

namespace palisade {
namespace {

constexpr std::array kHooks = {
    Hook{PAL_HOOK_CONNECT4, "pal_connect4", "cgroup/connect4", "connect"},
    Hook{PAL_HOOK_CONNECT6, "pal_connect6", "cgroup/connect6", "connect"},
    Hook{PAL_HOOK_SENDMSG4, "pal_sendmsg4", "cgroup/sendmsg4", "sendmsg"},
    Hook{PAL_HOOK_SENDMSG6, "pal_sendmsg6", "cgroup/sendmsg6", "sendmsg"},
    Hook{PAL_HOOK_BIND4, "pal_bind4", "cgroup/bind4", "bind"},
    Hook{PAL_HOOK_BIND6, "pal_bind6", "cgroup/bind6", "bind"},
    Hook{PAL_HOOK_SOCK_CREATE, "pal_sock_create", "cgroup/sock_create", "socket-create"},
    Hook{PAL_HOOK_SKB_EGRESS, "pal_skb_egress", "cgroup_skb/egress", "packet"},
    Hook{PAL_HOOK_SKB_INGRESS, "pal_skb_ingress", "cgroup_skb/ingress", "packet"},
    Hook{PAL_HOOK_LSM_SOCKET, "pal_socket_lsm", "lsm/socket_create", "socket-create"},
    Hook{PAL_HOOK_LSM_BPRM, "pal_exec_lsm", "lsm/bprm_creds_from_file", "exec"},
    Hook{PAL_HOOK_TP_EXEC, "pal_exec_tp", "tp_btf/sched_process_exec", "exec"},
    // Also takes the exec fallback's snapshots of the caller's credentials.
    Hook{PAL_HOOK_TP_SOCKET, "pal_sys_enter", "tp_btf/sys_enter", "socket-create"},
};

}  // namespace

std::span<const Hook> hookTable() { return kHooks; }

const Hook* hookById(uint8_t id) {
    if (id == PAL_HOOK_NONE) return nullptr;
    for (const Hook& h : kHooks) {
        if (h.id == id) return &h;
    }
    return nullptr;
}

const Hook* hookByProgram(std::string_view program) {
    for (const Hook& h : kHooks) {
        if (program == h.program) return &h;
    }
    return nullptr;
}

const char* hookMechanism(uint8_t id) {
    const Hook* h = hookById(id);
    return h ? h->section : "unknown";
}

const char* hookAction(uint8_t id) {
    const Hook* h = hookById(id);
    return h ? h->action : "packet";
}

}  // namespace palisade
