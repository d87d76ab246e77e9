/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one ABI shared by the BPF programs (bpf/) and the C++ agent (agent/).
 *
 * Everything the kernel side reads or writes is declared here: map keys and
 * values, event records, enumerations. Fixed-width types only, every padding
 * byte is an explicit field (so a zero-initialised key is fully defined), and
 * every size is asserted on both sides.
 *
 * How a verdict is reached (see bpf/decide.bpf.h):
 *   cgroup id --pal_cgroups--> container, and for the active generation its
 *       epid and policy (mode, raw sockets, exec, flags)
 *   destination --pal_hosts4 / pal_hosts6 (single addresses), else
 *       pal_lpm4 / pal_lpm6--> the class of its most specific prefix on the node
 *   (epid, class) --pal_classes--> allowed ports + flags: one (protocol, port
 *       range) pair inline, or a port set id; when the set has no entry, its
 *       entry for the class's parent (at most PAL_CLASS_WALK classes)
 *   port set id --pal_portsets--> allowed (protocol, port range) list
 * so that the common decision (a rule with at most one port range) costs three
 * map lookups: its cgroup, its destination's class and the class's ports. Each
 * prefix is stored once however many policy sets share it
 * (docs/prefix-classes.md).
 */
#ifndef PALISADE_ABI_H
#define PALISADE_ABI_H

#if defined(__bpf__)
/* vmlinux.h provides __u8 ... __u64 */
#define PAL_STATIC_ASSERT _Static_assert
#else
#include <linux/types.h>
#ifdef __cplusplus
#define PAL_STATIC_ASSERT static_assert
#else
#define PAL_STATIC_ASSERT _Static_assert
#endif
#endif

/* Kernel object names are capped at 15 characters: every map is pal_*. */

/* Sizes of the maps; the agent sets them from its limits before load. */
#define PAL_MAX_CGROUPS 65536
#define PAL_MAX_PORTSETS 16384
#define PAL_MAX_LPM_ENTRIES 262144
#define PAL_MAX_CLASSES 262144
/* ~17,000 network events: 90 ms of a 200,000 events/s flood, while the agent
 * is woken per 16 KiB and drains every 100 ms at the latest. libbpf maps the
 * data twice into the agent, so this counts double in its RSS (docs/reference/targets.md). */
#define PAL_RINGBUF_BYTES (2 * 1024 * 1024)

/* A container's cgroup is looked up first, then its ancestors up to this
 * depth, so that processes in nested cgroups get the container's policy. */
#define PAL_CGROUP_MAX_DEPTH 16

/* Allowed (protocol, port range) pairs in one port set. */
#define PAL_MAX_PORT_RANGES 16

/* Protocol classes a port range applies to (bit mask). */
enum pal_proto_bits {
    PAL_PROTO_TCP = 1,
    PAL_PROTO_UDP = 2,
    PAL_PROTO_ICMP = 4,  /* ICMP and ICMPv6, no port */
    PAL_PROTO_OTHER = 8, /* anything else (raw IP protocols), no port */
    PAL_PROTO_ALL = 15,
};

enum pal_mode {
    PAL_MODE_ALLOW = 0,   /* decide nothing (unmatched: allow) */
    PAL_MODE_AUDIT = 1,   /* decide and report, never block */
    PAL_MODE_ENFORCE = 2, /* decide, report and block */
};

enum pal_exec_action {
    PAL_EXEC_ALLOW = 0,
    PAL_EXEC_FLAG = 1,
    PAL_EXEC_DENY = 2,
};

enum pal_policy_flags {
    PAL_POLICY_RAW_ALLOW = 1, /* AF_PACKET / SOCK_RAW creation allowed */
    PAL_POLICY_UNMATCHED = 2, /* container that no policy selects */
    PAL_POLICY_ISOLATED =
        4,                /* interContainer: deny (docs/reference/enforcement.md#inter-container) */
    PAL_POLICY_HOSTS = 8, /* a rule of the set has a single address: try pal_hosts4 / 6 */
    /* A policy of the set has `bind` (docs/reference/enforcement.md#bind): binds are judged
     * by the pal_classes entries under epid | PAL_BIND_EPID. */
    PAL_POLICY_BIND = 16,
    PAL_POLICY_BIND_HOSTS = 32, /* a bind rule of the set has a single address */
    /* A policy of the set has toFQDNs (docs/reference/enforcement.md#fqdn): its DNS answers
     * teach addresses, which its decisions then consult. */
    PAL_POLICY_FQDN = 64,
};

/* Every id of the second generation slot (epids, classes, port sets) has this bit; the
 * first slot's ids do not (docs/reference/enforcement.md#reload). */
#define PAL_SLOT_BIT 0x80000000u

/* The key of a policy set's bind entries: its epid with this bit (epids count up
 * from the generation slot's base, PAL_SLOT_BIT or 0, and never reach it). */
#define PAL_BIND_EPID 0x40000000u

/* pal_classes: (PAL_PARENTS_EPID | slot, class) holds the class's parent, in `parent`:
 * no policy set has this epid (the bind key of an epid never reached). */
#define PAL_PARENTS_EPID 0x7fffffffu

/* The most pal_classes entries a decision looks at: a class, then its parents, while the
 * policy set has no entry (docs/prefix-classes.md#the-walk). */
#define PAL_CLASS_WALK 4

enum pal_lpm_flags {
    PAL_LPM_EXCEPT = 1, /* the prefix is an `except` carve-out of some rule */
};

/* Where a verdict was reached. Events and metrics expose these numbers, so
 * they never change; agent/datapath/hooks.cpp names the program of each. */
enum pal_hook {
    PAL_HOOK_NONE = 0,
    PAL_HOOK_CONNECT4 = 1,
    PAL_HOOK_CONNECT6 = 2,
    PAL_HOOK_SENDMSG4 = 3,
    PAL_HOOK_SENDMSG6 = 4,
    PAL_HOOK_SOCK_CREATE = 5,
    PAL_HOOK_SKB_EGRESS = 6,
    PAL_HOOK_SKB_INGRESS = 7,
    PAL_HOOK_LSM_SOCKET = 8, /* AF_PACKET and AF_XDP under BPF LSM: EPERM */
    PAL_HOOK_LSM_BPRM = 9,
    PAL_HOOK_TP_EXEC = 10,
    PAL_HOOK_TP_SOCKET = 11, /* AF_PACKET and AF_XDP at socket() entry: SIGKILL */
    PAL_HOOK_BIND4 = 12,
    PAL_HOOK_BIND6 = 13,
    PAL_HOOK_MAX = 14,
};

enum pal_verdict {
    PAL_VERDICT_ALLOW = 0,
    PAL_VERDICT_DENY = 1,
    PAL_VERDICT_AUDIT = 2, /* would have been denied */
    PAL_VERDICT_FLAG = 3,
    PAL_VERDICT_MAX = 4,
};

enum pal_reason {
    PAL_REASON_NONE = 0,
    PAL_REASON_NOT_ALLOWLISTED = 1,
    PAL_REASON_EXCEPT = 2,
    PAL_REASON_INTER_CONTAINER = 3,
    PAL_REASON_IPV6_NOT_ALLOWED = 4,
    PAL_REASON_RAW_SOCKET = 5,
    PAL_REASON_SETUID_EXEC = 6,
    PAL_REASON_UNMATCHED = 7,
    PAL_REASON_BIND_NOT_ALLOWED = 8,
    PAL_REASON_SOURCE_ROUTE = 9, /* an IPv4 source route or IPv6 routing header */
    /* The address was learned from DNS for a toFQDNs selector, but its time ran out or the
     * selector's rules do not allow this port (struct pal_net_event.fqdn names the selector). */
    PAL_REASON_FQDN_NOT_ALLOWED = 10,
    PAL_REASON_MAX = 11,
};

enum pal_event_type {
    PAL_EVENT_NET = 1,    /* connect, sendmsg, packet */
    PAL_EVENT_SOCKET = 2, /* socket creation */
    PAL_EVENT_EXEC = 3,   /* an exec that raises privileges (struct pal_exec_event) */
    PAL_EVENT_DNS = 4,    /* a DNS answer taught toFQDNs addresses (struct pal_dns_event) */
};

/* pal_counters (per-CPU array) slots: verdicts by hook, verdict and reason,
 * then pipeline counters. */
#define PAL_COUNTER_VERDICT(hook, verdict, reason) \
    (((int)(hook) * (int)PAL_VERDICT_MAX + (int)(verdict)) * (int)PAL_REASON_MAX + (int)(reason))
#define PAL_COUNTER_RINGBUF_DROPS ((int)PAL_HOOK_MAX * (int)PAL_VERDICT_MAX * (int)PAL_REASON_MAX)
/* DNS answers (docs/reference/enforcement.md#fqdn): answers that taught addresses, answers
 * that taught nothing (no matching query, malformed, truncated), addresses learned, and
 * addresses refused because the container's budget or the map was full. */
#define PAL_COUNTER_DNS_ANSWERS (PAL_COUNTER_RINGBUF_DROPS + 1)
#define PAL_COUNTER_DNS_IGNORED (PAL_COUNTER_RINGBUF_DROPS + 2)
#define PAL_COUNTER_DNS_LEARNED (PAL_COUNTER_RINGBUF_DROPS + 3)
#define PAL_COUNTER_DNS_REFUSED (PAL_COUNTER_RINGBUF_DROPS + 4)
/* Queries not noted because their container had PAL_DNS_MAX_PENDING waiting already. */
#define PAL_COUNTER_DNS_UNNOTED (PAL_COUNTER_RINGBUF_DROPS + 5)
#define PAL_COUNTER_MAX (PAL_COUNTER_RINGBUF_DROPS + 6)

/* The effective policy of a set of policies selecting a container (the
 * compiler's unit, identified by an epid); containers sharing policies share an
 * epid. */
struct pal_policy {
    __u8 mode;        /* enum pal_mode */
    __u8 exec_setuid; /* enum pal_exec_action */
    __u16 flags;      /* enum pal_policy_flags */
    __u32 pad;
};
PAL_STATIC_ASSERT(sizeof(struct pal_policy) == 8, "pal_policy layout");

/* pal_cgroups: key = cgroup id (__u64). Each generation slot (active_gen & 1)
 * holds the epid and a copy of its policy, so that finding a task's policy is
 * one lookup. */
struct pal_cgroup {
    __u32 epid[2];
    __u32 container; /* agent's container index, echoed in events */
    __u32 pad;
    struct pal_policy policy[2];
};
PAL_STATIC_ASSERT(sizeof(struct pal_cgroup) == 32, "pal_cgroup layout");

/* pal_lpm4 / pal_lpm6: every toCIDR, except and bind address of the policies in force,
 * once for the whole node, each with its class (__u32 value). prefixlen counts the 32
 * slot bits plus address bits, so that one lookup of (slot, address) finds the most
 * specific prefix on the node holding the address: O(prefix length), independent of
 * the number of rules and of policy sets. The slot keeps two generations apart during
 * a reload. */
struct pal_lpm4_key {
    __u32 prefixlen;
    __u32 slot; /* 0 or PAL_SLOT_BIT, big-endian: the leading 32 bits of the trie key */
    __u8 addr[4];
};
PAL_STATIC_ASSERT(sizeof(struct pal_lpm4_key) == 12, "pal_lpm4_key layout");

struct pal_lpm6_key {
    __u32 prefixlen;
    __u32 slot; /* big-endian */
    __u8 addr[16];
};
PAL_STATIC_ASSERT(sizeof(struct pal_lpm6_key) == 24, "pal_lpm6_key layout");

#define PAL_LPM_SLOT_BITS 32

/* pal_hosts4 / pal_hosts6: the /32 and /128 prefixes, which long allowlists are
 * mostly made of, as an exact-match hash looked up before the trie: one bucket
 * instead of a walk through ~20 trie nodes, each a cache miss. Being the longest
 * prefixes there are, a hit is the LPM answer; the tries hold the shorter prefixes
 * only. Same value as the tries: the class. */
struct pal_host4_key {
    __u32 slot; /* 0 or PAL_SLOT_BIT, host byte order */
    __u8 addr[4];
};
PAL_STATIC_ASSERT(sizeof(struct pal_host4_key) == 8, "pal_host4_key layout");

struct pal_host6_key {
    __u32 slot;
    __u8 addr[16];
};
PAL_STATIC_ASSERT(sizeof(struct pal_host6_key) == 20, "pal_host6_key layout");

/* pal_classes: a class is the set of rules that hold a prefix, and how (inside a CIDR,
 * inside an except), and its parent, the class of the prefixes that contain its own, so
 * two prefixes of one class mean the same to every policy set. The entry of (epid,
 * class) is what that policy set allows there (struct pal_lpm_value); none: what its
 * entry for the class's parent says (its rules hold both alike), and with no parent, no
 * rule of the set holds the class's prefixes. A set's bind rules are under epid |
 * PAL_BIND_EPID; a class's parent under PAL_PARENTS_EPID. */
struct pal_class_key {
    __u32 epid;
    __u32 class_id; /* 1, 2, ... from the slot's base */
};
PAL_STATIC_ASSERT(sizeof(struct pal_class_key) == 8, "pal_class_key layout");

struct pal_port_range {
    __u16 first; /* host byte order, inclusive */
    __u16 last;
    __u8 protos; /* enum pal_proto_bits */
    __u8 pad[3];
};
PAL_STATIC_ASSERT(sizeof(struct pal_port_range) == 8, "pal_port_range layout");

/* The (protocol, port range) pairs a destination allows. A union of at most
 * one range (every rule without `ports` is one: all protocols, all ports) is
 * carried inline and costs no further lookup; a longer one is in pal_portsets. */
struct pal_ports {
    struct pal_port_range range; /* when portset == 0; protos == 0: nothing */
    __u32 portset;               /* key into pal_portsets, or 0 */
    __u32 pad;
};
PAL_STATIC_ASSERT(sizeof(struct pal_ports) == 16, "pal_ports layout");

struct pal_lpm_value {
    struct pal_ports ports;
    __u32 flags;  /* enum pal_lpm_flags */
    __u32 parent; /* under PAL_PARENTS_EPID only: the class's parent (0: none) */
};
PAL_STATIC_ASSERT(sizeof(struct pal_lpm_value) == 24, "pal_lpm_value layout");

/* pal_portsets: key = port set id (__u32). */
struct pal_portset {
    __u32 count;
    __u32 pad;
    struct pal_port_range ranges[PAL_MAX_PORT_RANGES];
};
PAL_STATIC_ASSERT(sizeof(struct pal_portset) == 8 + 8 * PAL_MAX_PORT_RANGES, "pal_portset layout");

/* pal_config: a one-element array, written by the agent. */
struct pal_config {
    __u32 active_gen;      /* generation slot in force: pal_cgroup.epid[active_gen & 1] */
    __u32 nat64_prefixlen; /* 96, or 0 when NAT64 translation is off */
    __u8 nat64_prefix[16];
    /* events.rateLimit as a token bucket per container (bpf/events.bpf.h):
     * one event costs event_interval_ns (1e9 / perContainerPerSecond), a full
     * bucket holds event_burst_ns (interval x burst). 0: no limit. */
    __u64 event_interval_ns;
    __u64 event_burst_ns;
    /* The network namespace of the agent, which is the host's: loopback there reaches the
     * host's own services, so a container sharing it (host network) has loopback judged
     * like any address (docs/reference/enforcement.md#loopback). PAL_HOST_NETNS_INIT when
     * the kernel does not tell the agent its cookie (no SO_NETNS_COOKIE); 0: loopback is
     * exempt everywhere. */
    __u64 host_netns_cookie;
    /* toFQDNs (docs/reference/enforcement.md#fqdn): 1 when a policy set of the generation in
     * force has toFQDNs, so that DNS packets are read at all; a learned address lives for its
     * answer's TTL raised to fqdn_min_ttl and lowered to fqdn_max_ttl (seconds); a container
     * holds at most fqdn_budget learned addresses. */
    __u32 fqdn_on;
    __u32 fqdn_min_ttl;
    __u32 fqdn_max_ttl;
    __u32 fqdn_budget;
    __u32 fqdn_events; /* 1: a PAL_EVENT_DNS record for each answer that teaches */
    __u32 pad;
};
/* pal_config.host_netns_cookie: the host's namespace is the initial one, whose cookie
 * the programs ask for (bpf_get_netns_cookie(NULL)). Cookies count up from 1. */
#define PAL_HOST_NETNS_INIT (~0ULL)
PAL_STATIC_ASSERT(sizeof(struct pal_config) == 72, "pal_config layout");

/* pal_ratelimit: key = container cgroup id (__u64), an LRU hash. The bucket
 * is kept as the time it is empty until (GCRA: a token bucket in one number). */
struct pal_ratelimit {
    __u64 tat_ns;     /* bpf_ktime_get_ns() at which the bucket is full again */
    __u64 suppressed; /* events held back, ever (the agent reports differences) */
};
/* pal_ratelimit is keyed by the container's cgroup id for its network events,
 * and by the id with this bit set for its security events (exec, raw and
 * packet sockets), which have a budget of their own: a container cannot spend
 * it on denied connects. Cgroup ids are inode numbers, far below 2^63. */
#define PAL_RATELIMIT_SECURITY (1ULL << 63)
PAL_STATIC_ASSERT(sizeof(struct pal_ratelimit) == 16, "pal_ratelimit layout");

/* Common head of every ring buffer record. */
struct pal_event_header {
    __u64 ts_ns;     /* bpf_ktime_get_boot_ns() */
    __u64 cgroup_id; /* the container's cgroup (the matched ancestor) */
    __u32 type;      /* enum pal_event_type */
    __u32 container; /* pal_cgroup.container */
    __u32 pid;       /* thread group id */
    __u32 uid;
    __u32 gid;
    __u32 epid;
    char comm[16];
    __u8 hook;    /* enum pal_hook */
    __u8 verdict; /* enum pal_verdict */
    __u8 reason;  /* enum pal_reason */
    __u8 pad[5];
};
PAL_STATIC_ASSERT(sizeof(struct pal_event_header) == 64, "pal_event_header layout");

/* PAL_EVENT_NET and PAL_EVENT_SOCKET. */
struct pal_net_event {
    struct pal_event_header h;
    __u8 daddr[16];      /* IPv4 in the first 4 bytes when family == 4 */
    __u8 orig_daddr[16]; /* the IPv6 address a v4-mapped/NAT64 daddr came from */
    __u16 dport;         /* host byte order */
    __u8 family;         /* 4 or 6 (for sockets: AF_* of the socket) */
    __u8 orig_family;    /* 6 when orig_daddr is set, else 0 */
    __u8 protocol;       /* IPPROTO_* */
    __u8 sock_type;      /* SOCK_* */
    __u8 pad[2];
    /* The other container (docs/reference/enforcement.md#inter-container): the destination's for
     * egress, the sender's for PAL_HOOK_SKB_INGRESS (daddr is then the sender's address and dport
     * the receiver's port); 0 when the peer is no container. */
    __u64 peer_cgroup;
    /* PAL_REASON_FQDN_NOT_ALLOWED: the selector the address was learned for (a pal_fqdn_name
     * value); else 0. */
    __u64 fqdn;
};
PAL_STATIC_ASSERT(sizeof(struct pal_net_event) == 64 + 56, "pal_net_event layout");

/* Inter-container isolation (docs/reference/enforcement.md#inter-container). pal_addr4 / pal_addr6:
 * a container's address (network byte order) -> its cgroup id (__u64); the address of containers
 * that share a network namespace (a pod) -> their endpoint, the oldest of them (the lowest cgroup
 * id). pal_endpoints: each other container of such a namespace (cgroup id) -> that endpoint, so
 * that its own pod's address is its own. pal_peers: which peers a policy set may reach, and on
 * which ports. */
#define PAL_MAX_ADDRS 65536
#define PAL_MAX_PEERS 262144
struct pal_peer_key {
    __u32 epid; /* the sender's effective policy */
    __u32 pad;
    __u64 peer_cgroup; /* the receiving container */
};
PAL_STATIC_ASSERT(sizeof(struct pal_peer_key) == 16, "pal_peer_key layout");
/* pal_peers value: struct pal_ports. The same map holds the ports of a policy set's toFQDNs
 * selectors (docs/reference/enforcement.md#fqdn), under peer_cgroup = PAL_FQDN_SELECTOR | the
 * selector's id: cgroup ids are inode numbers, far below 2^63. */
#define PAL_FQDN_SELECTOR (1ULL << 63)

/* Egress by DNS name (docs/reference/enforcement.md#fqdn).
 *
 * pal_fqdn_names: every toFQDNs selector of the policies in force, by name in DNS wire form
 * (length-prefixed labels, lower case, zero-padded), -> its id (__u64, below 2^63, the same
 * in every generation: a hash of the key, agent/compiler/fqdn_names.cpp). A matchName is looked up
 * as itself (PAL_FQDN_EXACT), a matchPattern "*.<name>" under <name> (PAL_FQDN_ONE_LABEL),
 * found by dropping a query name's first label. Whether a policy set has the selector, and
 * on which ports, is in pal_peers. */
#define PAL_DNS_NAME_MAX 256 /* a wire-form name is at most 255 bytes */
enum pal_fqdn_kind {
    PAL_FQDN_EXACT = 1,
    PAL_FQDN_ONE_LABEL = 2,
};
struct pal_fqdn_name {
    __u8 name[PAL_DNS_NAME_MAX]; /* first, so the programs can read it in aligned 8-byte words */
    __u32 kind;                  /* enum pal_fqdn_kind */
    __u32 pad;
};
PAL_STATIC_ASSERT(sizeof(struct pal_fqdn_name) == PAL_DNS_NAME_MAX + 8, "pal_fqdn_name layout");

/* pal_dns_queries (LRU): a container's DNS query for a name some selector of its policy set
 * matches, from cgroup_skb/egress until its answer arrives at cgroup_skb/ingress. */
struct pal_dns_query_key {
    __u64 cgroup_id; /* the container */
    __u8 server[16]; /* the resolver's address (IPv4 in the first 4 bytes) */
    __u16 port;      /* the container's port, network byte order */
    __u16 id;        /* the DNS transaction id, network byte order */
    __u8 family;     /* 4 or 6 */
    __u8 protocol;   /* IPPROTO_UDP or IPPROTO_TCP */
    __u8 pad[2];
};
PAL_STATIC_ASSERT(sizeof(struct pal_dns_query_key) == 32, "pal_dns_query_key layout");
struct pal_dns_query {
    __u64 name_hash; /* FNV-1a of the question's wire-form name, lower case */
    __u64 selector;  /* the selector id the name matched */
    __u64 sent_ns;   /* bpf_ktime_get_ns() */
};
PAL_STATIC_ASSERT(sizeof(struct pal_dns_query) == 24, "pal_dns_query layout");

/* pal_fqdn_addrs: an address a container learned from an answer -> the selectors it was
 * learned for, each until its TTL runs out (bpf_ktime_get_ns() time). The agent deletes
 * entries whose every slot has run out, and those of containers that are gone. */
#define PAL_FQDN_SLOTS 4
struct pal_fqdn_addr_key {
    __u64 cgroup_id;
    __u8 addr[16]; /* IPv4 in the first 4 bytes */
    __u8 family;   /* 4 or 6 */
    __u8 pad[7];
};
PAL_STATIC_ASSERT(sizeof(struct pal_fqdn_addr_key) == 32, "pal_fqdn_addr_key layout");
struct pal_fqdn_slot {
    __u64 selector; /* 0: free */
    __u64 expires_ns;
};
struct pal_fqdn_addr {
    struct pal_fqdn_slot slot[PAL_FQDN_SLOTS];
};
PAL_STATIC_ASSERT(sizeof(struct pal_fqdn_addr) == 16 * PAL_FQDN_SLOTS, "pal_fqdn_addr layout");

/* PAL_EVENT_DNS (fqdn.learnedEvents): what one answer taught. h.hook is
 * PAL_HOOK_SKB_INGRESS, h.verdict PAL_VERDICT_ALLOW. */
#define PAL_DNS_EVENT_ADDRS 8
struct pal_dns_event {
    struct pal_event_header h;
    __u64 selector;
    __u32 count; /* addresses learned; the first PAL_DNS_EVENT_ADDRS of them follow */
    __u8 family[PAL_DNS_EVENT_ADDRS];
    __u8 pad[4];
    __u8 addr[PAL_DNS_EVENT_ADDRS][16];
    __u8 name[PAL_DNS_NAME_MAX]; /* the question, in wire form, lower case */
};
PAL_STATIC_ASSERT(sizeof(struct pal_dns_event) ==
                      64 + 8 + 16 + 16 * PAL_DNS_EVENT_ADDRS + PAL_DNS_NAME_MAX,
                  "pal_dns_event layout");

/* pal_fqdn_use: per container (cgroup id), its entries in pal_fqdn_addrs and its queries in
 * pal_dns_queries (counted by the programs, recounted by the agent when it sweeps), and the
 * addresses refused, ever. A container has at most PAL_DNS_MAX_PENDING queries noted, so
 * that one container's flood cannot push the others' out of the LRU map; a query
 * unanswered for PAL_DNS_QUERY_TIMEOUT_NS teaches nothing and is swept. */
#define PAL_DNS_MAX_PENDING 256
#define PAL_DNS_QUERY_TIMEOUT_NS (30ULL * 1000000000ULL)
struct pal_fqdn_use {
    __u64 addresses;
    __u64 refused;
    __u32 pending;
    __u32 pad;
};
PAL_STATIC_ASSERT(sizeof(struct pal_fqdn_use) == 24, "pal_fqdn_use layout");

/* What an exec grants (docs/reference/enforcement.md#exec-policy), found by comparing the
 * credentials the kernel computed for the new image with the caller's (bpf/exec.bpf.h). */
enum pal_priv_bits {
    PAL_PRIV_SETUID = 1, /* the effective uid changed: a set-user-ID file */
    PAL_PRIV_SETGID = 2, /* the effective gid changed: a set-group-ID file */
    PAL_PRIV_CAPS = 4,   /* the permitted capabilities grew: file capabilities */
};

enum pal_exec_flags {
    /* no_new_privs kept the privileges from being raised: `privileges` says
     * what the file would have granted, the new credentials equal the old. */
    PAL_EXECF_NO_NEW_PRIVS = 1,
    /* Tracepoint fallback without a snapshot of the caller's credentials (an
     * exec that passed no execve/execveat syscall tracepoint, e.g. a 32-bit
     * task): the old effective ids are the real ids, which an exec never changes. */
    PAL_EXECF_OLD_ASSUMED = 2,
};

#define PAL_EXEC_PATH_MAX 256

/* PAL_EVENT_EXEC. */
struct pal_exec_event {
    struct pal_event_header h;
    __u32 old_euid;
    __u32 new_euid;
    __u32 old_egid;
    __u32 new_egid;
    __u64 old_caps; /* permitted capability sets, bit n = capability n */
    __u64 new_caps;
    __u32 file_uid; /* the executable's owner, group and i_mode */
    __u32 file_gid;
    __u32 file_mode;
    __u8 privileges; /* enum pal_priv_bits */
    __u8 flags;      /* enum pal_exec_flags */
    __u8 pad[2];
    char filename[PAL_EXEC_PATH_MAX]; /* as passed to execve(), NUL-terminated */
};
PAL_STATIC_ASSERT(sizeof(struct pal_exec_event) == 64 + 48 + PAL_EXEC_PATH_MAX,
                  "pal_exec_event layout");

#endif /* PALISADE_ABI_H */
