/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Egress by DNS name (docs/reference/enforcement.md#fqdn): the kernel learns a toFQDNs
 * address from the DNS answer on its way to the container's socket, so it is in force before
 * the application can read the answer.
 *
 *   cgroup_skb/egress: a container's query over UDP or TCP to port 53 of a resolver its
 *       policy names (pal_resolver_allowed), for a name a toFQDNs selector of its policy set
 *       matches, is noted in pal_dns_queries (container, resolver, protocol, port,
 *       transaction id -> name hash, selector, time);
 *   cgroup_skb/ingress: an answer from that resolver to that port over that protocol with
 *       that id and question, which the receiver's check let through, takes the query out
 *       and teaches the A and AAAA records of its answer section: pal_fqdn_addrs (container,
 *       address) -> (selector, expiry). Over TCP, only from where a message starts (see
 *       pal_dns_streams).
 *
 * Everything read from a packet is bounded: the question name by PAL_DNS_NAME_MAX, the
 * answer section by PAL_DNS_MAX_STEPS labels and records; compression pointers are never
 * followed (each must point before the name it ends, so a loop is malformed). An answer that
 * does not parse to its last record teaches nothing.
 */
#pragma once

#include "decide.bpf.h"
#include "events.bpf.h"
#include "packet.bpf.h"

#define PAL_DNS_PORT 53
#define PAL_DNS_HEADER 12
#define PAL_DNS_FLAG_QR 0x8000
#define PAL_DNS_FLAG_TC 0x0200
#define PAL_DNS_OPCODE_RCODE 0x780f /* opcode (QUERY is 0) and rcode (NOERROR is 0) */
#define PAL_DNS_TYPE_A 1
#define PAL_DNS_TYPE_AAAA 28
#define PAL_DNS_CLASS_IN 1
#define PAL_DNS_MAX_ADDRS 128  /* addresses one answer can teach */
#define PAL_DNS_MAX_STEPS 512  /* owner-name labels and records walked in one answer */
#define PAL_DNS_TCP_MESSAGES 4 /* messages read from one TCP segment */
#define PAL_FNV_OFFSET 0xcbf29ce484222325ULL
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the name words of bpf/dns.bpf.h assume a little-endian target"
#endif
#define PAL_FNV_PRIME 0x100000001b3ULL

/* Per-CPU working memory: a name is too large for the stack, and the walk keeps its state
 * here, not in registers, so that the verifier sees one state per step; the packet's context
 * waits here for the functions that read its messages. Slot PAL_DNS_SLOT_EGRESS is used by
 * the egress program, PAL_DNS_SLOT_INGRESS by ingress, which may interrupt it on the same CPU.
 * Two egress runs can still share the egress slot (one in a softirq, a TCP retransmission,
 * interrupting one in a task, or on a preemptible kernel): the query then noted mixes the
 * two's container, resolver, name and selector, and teaches nothing either container's own
 * queries would not (an answer must match the whole key, and a learned selector allows only
 * where the connecting container's policy set has it). */
#define PAL_DNS_SLOT_EGRESS 0
#define PAL_DNS_SLOT_INGRESS 1
/* A pal_fqdn_name, also as words. */
#define PAL_DNS_NAME_WORDS (PAL_DNS_NAME_MAX / 8)
union pal_dns_name {
    struct pal_fqdn_name k;
    __u64 words[PAL_DNS_NAME_WORDS]; /* k.name */
};

/* Where the DNS messages of a packet to or from port 53 are: the one message of a UDP datagram,
 * or those a TCP segment carries, each after its 2-byte length (RFC 1035 4.2.2). */
struct pal_dns_packet {
    __u32 payload; /* offset of the UDP or TCP payload */
    __u32 end;     /* its end */
    __u32 seq;     /* TCP: the segment's sequence number */
    __u16 port;    /* the container's port, network byte order */
    __u8 protocol; /* IPPROTO_UDP or IPPROTO_TCP */
    __u8 syn_ack;  /* TCP: SYN and ACK set, the resolver's answer to the container's SYN */
};

struct pal_dns_scratch {
    /* The packet and whose it is, for the functions that read one of its messages. */
    struct pal_subject subject;
    struct pal_dest peer; /* the resolver */
    struct pal_dns_packet pkt;
    union pal_dns_name key;
    union pal_dns_name parent; /* key without its first label */
    __u32 msg;                 /* offset of the DNS message in the packet */
    __u32 off;                 /* the walk's next byte */
    __u32 end;                 /* end of the DNS message */
    __u32 left;                /* answer records not walked yet */
    __u32 in_name;             /* 1 while walking an owner name */
    __u32 name_len;            /* bytes of the owner name so far */
    __u32 name_start;          /* where the owner name began */
    __u32 naddrs;
    __u32 over; /* addresses past PAL_DNS_MAX_ADDRS */
    __u32 qlen; /* the question name's length in wire form */
    __u32 pad;
    __u64 hash;     /* of the question name */
    __u64 selector; /* the selector the question name matched, or 0 */
    __u32 ttl[PAL_DNS_MAX_ADDRS];
    __u8 family[PAL_DNS_MAX_ADDRS];
    __u8 addr[PAL_DNS_MAX_ADDRS][16];
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, struct pal_dns_scratch);
} pal_dns_scratch SEC(".maps");

struct pal_dns_header {
    __be16 id;
    __be16 flags;
    __be16 qdcount;
    __be16 ancount;
    __be16 nscount;
    __be16 arcount;
};

struct pal_dns_rr {
    __be16 type;
    __be16 class;
    __be32 ttl;
    __be16 rdlength;
} __attribute__((packed));

/* A UDP or TCP packet of a socket (cgroup_skb) from (`to`: to) port 53. IPv6 packets with
 * extension headers and IPv4 fragments are not DNS this reads. */
static __always_inline bool pal_dns_packet(struct __sk_buff* skb, bool to,
                                           struct pal_dns_packet* p) {
    __u32 l4, ip_end;
    __be16 dns_port, port;

    if (skb->protocol == bpf_htons(PAL_ETH_P_IP)) {
        struct iphdr ip;

        if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip))) return false;
        if (ip.frag_off & bpf_htons(0x3fff)) return false; /* MF, or an offset */
        p->protocol = ip.protocol;
        l4 = ip.ihl * 4;
        ip_end = bpf_ntohs(ip.tot_len);
    } else if (skb->protocol == bpf_htons(PAL_ETH_P_IPV6)) {
        struct ipv6hdr ip6;

        if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6))) return false;
        p->protocol = ip6.nexthdr;
        l4 = sizeof(ip6);
        ip_end = l4 + bpf_ntohs(ip6.payload_len);
    } else {
        return false;
    }
    if (ip_end > skb->len) return false;
    if (p->protocol == IPPROTO_UDP) {
        struct udphdr uh;

        if (bpf_skb_load_bytes(skb, l4, &uh, sizeof(uh))) return false;
        dns_port = to ? uh.dest : uh.source;
        port = to ? uh.source : uh.dest;
        p->payload = l4 + sizeof(uh);
        p->end = l4 + bpf_ntohs(uh.len);
        p->seq = 0;
        p->syn_ack = 0;
    } else if (p->protocol == IPPROTO_TCP) {
        struct tcphdr th;

        if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th))) return false;
        dns_port = to ? th.dest : th.source;
        port = to ? th.source : th.dest;
        p->payload = l4 + th.doff * 4;
        p->end = ip_end;
        p->seq = bpf_ntohl(th.seq);
        p->syn_ack = th.syn && th.ack;
    } else {
        return false;
    }
    p->port = port;
    return dns_port == bpf_htons(PAL_DNS_PORT) && p->end <= ip_end && p->payload <= p->end;
}

/* The 2-byte length of the TCP DNS message at `at` (0 when it is not all in the segment). */
static __always_inline __u32 pal_dns_tcp_length(struct __sk_buff* skb, __u32 at, __u32 end) {
    __be16 len;

    if (at + sizeof(len) > end || bpf_skb_load_bytes(skb, at, &len, sizeof(len))) return 0;
    return bpf_ntohs(len);
}

static __always_inline struct pal_dns_scratch* pal_dns_scratch_slot(__u32 slot) {
    return bpf_map_lookup_elem(&pal_dns_scratch, &slot);
}

/* The bytes 'A'..'Z' of `x` in lower case, the others as they are (no carry crosses a byte:
 * each sum stays below 0x100). */
static __always_inline __u64 pal_lower8(__u64 x) {
    __u64 low7 = x & 0x7f7f7f7f7f7f7f7fULL;
    __u64 from_a = low7 + 0x3f3f3f3f3f3f3f3fULL; /* high bit: at least 'A' */
    __u64 past_z = low7 + 0x2525252525252525ULL; /* high bit: past 'Z' */
    __u64 upper = from_a & ~past_z & ~x & 0x8080808080808080ULL;

    return x | (upper >> 2); /* 0x80 >> 2 == 'a' - 'A' */
}

/*
 * The loops are in global functions (not static, not inlined): the verifier checks each
 * once, on its own (Linux 5.6+), where an inlined loop would be walked again for every path
 * of its caller that reaches it. Their arguments are the context and scalars; what they
 * find is left in the scratch slot.
 */

/* Reads the question name at `off` into the slot's key: lower case, zero-padded, its hash in
 * `hash`. Returns its length in wire form; 0 when it is not a plain name, which a question
 * always is. */
__attribute__((noinline)) int pal_dns_question(struct __sk_buff* skb, __u32 slot, __u32 off,
                                               __u32 end) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);
    __u64 avail = end > off ? end - off : 0;
    __u32 at = 0, len;
    __u64 h = PAL_FNV_OFFSET;

    if (!sc || avail == 0) return 0;
    if (avail > PAL_DNS_NAME_MAX - 1) avail = PAL_DNS_NAME_MAX - 1;
    /* 1..255 bytes, in a form the verifier can follow. */
    avail -= 1;
    asm volatile("%[n] &= 0xff" : [n] "+r"(avail));
    avail += 1;
    if (bpf_skb_load_bytes(skb, off, sc->key.k.name, avail)) return 0;
    sc->qlen = 0;
    for (int n = 0; n < PAL_DNS_NAME_MAX / 2; n++) {
        __u8 label = sc->key.k.name[at & (PAL_DNS_NAME_MAX - 1)];

        if (label == 0) {
            sc->qlen = at + 1;
            break;
        }
        if (label > 63) return 0; /* a compression pointer, or reserved */
        at += label + 1;
        if (at >= avail) return 0;
    }
    /* Read back from memory: the verifier then has one state for the loop below, not one
     * per length the loop above can end with. */
    asm volatile("" ::: "memory");
    len = sc->qlen;
    if (!len) return 0;
    /* Eight bytes at a time (PAL_DNS_NAME_WORDS rounds, not 256): the bytes past the name
     * zeroed, the rest lower-cased, and hashed. */
    for (__u32 w = 0; w < PAL_DNS_NAME_WORDS; w++) {
        __u64 x = sc->key.words[w];
        __u32 first = w * 8;

        if (first >= len)
            x = 0;
        else if (first + 8 > len)
            x &= (1ULL << ((len - first) * 8)) - 1; /* little-endian: the first bytes */
        x = pal_lower8(x);
        sc->key.words[w] = x;
        h = (h ^ x) * PAL_FNV_PRIME;
    }
    sc->hash = h;
    return len;
}

/* Whether policy set `epid` has toFQDNs selector `id` (its ports are in pal_peers). */
static __always_inline bool pal_fqdn_selected(__u32 epid, __u64 id) {
    struct pal_peer_key k = {.epid = epid, .peer_cgroup = PAL_FQDN_SELECTOR | id};

    return bpf_map_lookup_elem(&pal_peers, &k) != NULL;
}

/* The selector of policy set `epid` that the name in the slot's key matches, into `selector`
 * (0: none): a matchName of the name itself, else a matchPattern "*.<parent>". The compiler
 * gives a name's own selector the ports of the patterns that match it too. Returns whether
 * one matched. */
__attribute__((noinline)) int pal_dns_selector(__u32 slot, __u32 epid) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);
    __u32 skip, q, r;
    __u64* id;

    if (!sc) return 0;
    sc->selector = 0;
    sc->key.k.kind = PAL_FQDN_EXACT;
    sc->key.k.pad = 0;
    id = bpf_map_lookup_elem(&pal_fqdn_names, &sc->key);
    if (id && pal_fqdn_selected(epid, *id)) {
        sc->selector = *id;
        return 1;
    }
    skip = sc->key.k.name[0] + 1;
    if (skip == 1) return 0; /* the root has no parent */
    /* The name without its first label: shifted down by `skip` bytes, a word at a time. */
    q = skip / 8;
    r = (skip % 8) * 8;
    for (__u32 w = 0; w < PAL_DNS_NAME_WORDS; w++) {
        __u32 a = w + q;
        __u64 lo = a < PAL_DNS_NAME_WORDS ? sc->key.words[a & (PAL_DNS_NAME_WORDS - 1)] : 0;
        __u64 hi =
            a + 1 < PAL_DNS_NAME_WORDS ? sc->key.words[(a + 1) & (PAL_DNS_NAME_WORDS - 1)] : 0;

        sc->parent.words[w] = r ? (lo >> r) | (hi << (64 - r)) : lo;
    }
    sc->parent.k.kind = PAL_FQDN_ONE_LABEL;
    sc->parent.k.pad = 0;
    id = bpf_map_lookup_elem(&pal_fqdn_names, &sc->parent);
    if (id && pal_fqdn_selected(epid, *id)) {
        sc->selector = *id;
        return 1;
    }
    return 0;
}

/* The container's pal_fqdn_use entry, made when it has none (NULL: the map is full). */
static __always_inline struct pal_fqdn_use* pal_fqdn_use_of(__u64 cgid) {
    struct pal_fqdn_use* use = bpf_map_lookup_elem(&pal_fqdn_use, &cgid);
    struct pal_fqdn_use none = {};

    if (use) return use;
    bpf_map_update_elem(&pal_fqdn_use, &cgid, &none, BPF_NOEXIST);
    return bpf_map_lookup_elem(&pal_fqdn_use, &cgid);
}

/* The noted-query key of message `id` between subject `s`'s `port` and `server`. */
static __always_inline void pal_dns_key(struct pal_dns_query_key* k, const struct pal_subject* s,
                                        const struct pal_dest* server,
                                        const struct pal_dns_packet* p, __be16 id) {
    k->cgroup_id = s->cgroup_id;
    __builtin_memcpy(k->server, server->addr, 16);
    k->family = server->family;
    k->protocol = p->protocol;
    k->port = p->port;
    k->id = id;
}

/* Notes the DNS query in `skb` from `msg` to `end`, for the subject, resolver and packet in the
 * egress slot (pal_dns_queries_of puts them there; see the top of this file). */
__attribute__((noinline)) int pal_dns_note_query(struct __sk_buff* skb, __u32 msg, __u32 end) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(PAL_DNS_SLOT_EGRESS);
    struct pal_dns_query_key k = {};
    struct pal_dns_query q = {};
    struct pal_dns_header hdr;
    struct pal_fqdn_use* use;

    if (!sc || end < msg + PAL_DNS_HEADER || bpf_skb_load_bytes(skb, msg, &hdr, sizeof(hdr)))
        return 0;
    if ((hdr.flags & bpf_htons(PAL_DNS_FLAG_QR | PAL_DNS_OPCODE_RCODE)) ||
        hdr.qdcount != bpf_htons(1))
        return 0;
    if (!pal_dns_question(skb, PAL_DNS_SLOT_EGRESS, msg + PAL_DNS_HEADER, end)) return 0;
    if (!pal_dns_selector(PAL_DNS_SLOT_EGRESS, sc->subject.epid)) return 0;
    q.name_hash = sc->hash;
    q.selector = sc->selector;
    q.sent_ns = bpf_ktime_get_ns();
    pal_dns_key(&k, &sc->subject, &sc->peer, &sc->pkt, hdr.id);
    use = pal_fqdn_use_of(sc->subject.cgroup_id);
    if (!use) return 0;
    if (bpf_map_lookup_elem(&pal_dns_queries, &k)) {
        bpf_map_update_elem(&pal_dns_queries, &k, &q, BPF_EXIST); /* asked again */
    } else if (use->pending >= PAL_DNS_MAX_PENDING) {
        pal_count(PAL_COUNTER_DNS_UNNOTED);
    } else if (bpf_map_update_elem(&pal_dns_queries, &k, &q, BPF_NOEXIST) == 0) {
        __sync_fetch_and_add(&use->pending, 1);
    }
    return 0;
}

/* The slot for this direction with packet `skb` in its `pkt`, when it is a packet from (`to`:
 * to) port 53 (else NULL, the slot untouched: a packet of another socket, sent from a softirq
 * that interrupts a run on this CPU, must not spoil it); the caller puts its subject in
 * `subject`. */
static __always_inline struct pal_dns_scratch* pal_dns_packet_in(struct __sk_buff* skb, bool to) {
    struct pal_dns_scratch* sc;
    struct pal_dns_packet p;

    if (!pal_dns_packet(skb, to, &p)) return NULL;
    sc = pal_dns_scratch_slot(to ? PAL_DNS_SLOT_EGRESS : PAL_DNS_SLOT_INGRESS);
    if (sc) sc->pkt = p;
    return sc;
}

/* Notes the DNS queries of the packet and subject in egress slot `sc` (pal_dns_packet_in): a
 * UDP datagram's, or the whole messages a TCP segment starts with (a segment that begins
 * inside a message notes nothing: a misread query is harmless, since only the resolver's
 * answer to it teaches). */
static __always_inline void pal_dns_queries_of(struct __sk_buff* skb, struct pal_dns_scratch* sc) {
    __u32 at, len, end;

    if (!(sc->subject.policy.flags & PAL_POLICY_FQDN) || sc->subject.policy.mode == PAL_MODE_ALLOW)
        return;
    /* Only a resolver the policy names can teach it anything. */
    __builtin_memset(&sc->peer, 0, sizeof(sc->peer));
    if (!pal_skb_dest(skb, &sc->peer) || !pal_resolver_allowed(&sc->subject, &sc->peer)) return;
    at = sc->pkt.payload;
    end = sc->pkt.end;
    if (sc->pkt.protocol == IPPROTO_UDP) {
        pal_dns_note_query(skb, at, end);
        return;
    }
    for (int n = 0; n < PAL_DNS_TCP_MESSAGES; n++) {
        len = pal_dns_tcp_length(skb, at, end);
        if (!len || at + 2 + len > end) return;
        pal_dns_note_query(skb, at + 2, at + 2 + len);
        at += 2 + len;
    }
}

/* cgroup_skb/egress: notes a container's DNS queries. Never drops. The packet is looked at
 * before the container, which costs a map lookup. */
static __always_inline void pal_dns_egress(struct __sk_buff* skb) {
    struct pal_config* cfg = pal_cfg();
    struct pal_dns_scratch* sc;

    if (!cfg || !cfg->fqdn_on) return;
    sc = pal_dns_packet_in(skb, true);
    if (sc && pal_skb_subject(skb, &sc->subject)) pal_dns_queries_of(skb, sc);
}

/* One step of the walk over the answer section: a label of an owner name, or a record's
 * fixed part and data. Returns 0 when the answer is malformed. A global function, like the
 * walk's other parts: the loops that call them stay a few instructions per round. */
__attribute__((noinline)) int pal_dns_step(struct __sk_buff* skb, __u32 slot) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);
    __u32 off, data, rdlen, n;
    struct pal_dns_rr rr;

    if (!sc) return 0;
    off = sc->off;
    if (sc->in_name) {
        __u8 b[2];

        if (off >= sc->end || bpf_skb_load_bytes(skb, off, b, 1)) return 0;
        if (b[0] == 0) {
            sc->off = off + 1;
            sc->in_name = 0;
            return 1;
        }
        if ((b[0] & 0xc0) == 0xc0) {
            /* A pointer ends the name. It must point before the name it ends, past the
             * header: then no chain of pointers can loop. */
            __u32 to;

            if (off + 2 > sc->end || bpf_skb_load_bytes(skb, off, b, 2)) return 0;
            to = ((__u32)(b[0] & 0x3f) << 8) | b[1];
            if (to < PAL_DNS_HEADER || sc->msg + to >= sc->name_start) return 0;
            sc->off = off + 2;
            sc->in_name = 0;
            return 1;
        }
        if (b[0] > 63) return 0;
        sc->name_len += b[0] + 1;
        if (sc->name_len >= PAL_DNS_NAME_MAX) return 0;
        sc->off = off + 1 + b[0];
        return 1;
    }
    if (off + sizeof(rr) > sc->end || bpf_skb_load_bytes(skb, off, &rr, sizeof(rr))) return 0;
    data = off + sizeof(rr);
    rdlen = bpf_ntohs(rr.rdlength);
    if (data + rdlen > sc->end) return 0;
    if (rr.class == bpf_htons(PAL_DNS_CLASS_IN) &&
        (rr.type == bpf_htons(PAL_DNS_TYPE_A) || rr.type == bpf_htons(PAL_DNS_TYPE_AAAA))) {
        bool v4 = rr.type == bpf_htons(PAL_DNS_TYPE_A);

        if (rdlen != (v4 ? 4 : 16)) return 0;
        n = sc->naddrs;
        if (n < PAL_DNS_MAX_ADDRS) {
            __u8* a = sc->addr[n & (PAL_DNS_MAX_ADDRS - 1)];

            __builtin_memset(a, 0, 16);
            if (v4 ? bpf_skb_load_bytes(skb, data, a, 4) : bpf_skb_load_bytes(skb, data, a, 16))
                return 0;
            sc->family[n & (PAL_DNS_MAX_ADDRS - 1)] = v4 ? 4 : 6;
            sc->ttl[n & (PAL_DNS_MAX_ADDRS - 1)] = bpf_ntohl(rr.ttl);
            sc->naddrs = n + 1;
        } else {
            sc->over++;
        }
    }
    sc->off = data + rdlen;
    sc->left--;
    sc->in_name = 1;
    sc->name_len = 0;
    sc->name_start = sc->off;
    return 1;
}

/* Learns one address for `selector` until `expires` (budget: pal_config.fqdn_budget). */
static __always_inline void pal_fqdn_learn(__u64 cgid, __u8 family, const __u8* addr,
                                           __u64 selector, __u64 expires, __u64 now,
                                           const struct pal_config* cfg) {
    struct pal_fqdn_addr_key k = {.cgroup_id = cgid, .family = family};
    struct pal_fqdn_addr* a;
    struct pal_fqdn_use* use;
    int free_slot = -1;

    __builtin_memcpy(k.addr, addr, 16);
    a = bpf_map_lookup_elem(&pal_fqdn_addrs, &k);
    if (!a) {
        struct pal_fqdn_addr fresh = {};

        use = pal_fqdn_use_of(cgid);
        if (!use) goto refused;
        if (use->addresses >= cfg->fqdn_budget) {
            __sync_fetch_and_add(&use->refused, 1);
            goto refused;
        }
        fresh.slot[0].selector = selector;
        fresh.slot[0].expires_ns = expires;
        if (bpf_map_update_elem(&pal_fqdn_addrs, &k, &fresh, BPF_NOEXIST) == 0) {
            __sync_fetch_and_add(&use->addresses, 1);
            pal_count(PAL_COUNTER_DNS_LEARNED);
            return;
        }
        a = bpf_map_lookup_elem(&pal_fqdn_addrs, &k); /* another CPU was first, or full */
        if (!a) {
            __sync_fetch_and_add(&use->refused, 1);
            goto refused;
        }
    }
    for (int i = 0; i < PAL_FQDN_SLOTS; i++) {
        if (a->slot[i].selector == selector) {
            if (a->slot[i].expires_ns < expires) a->slot[i].expires_ns = expires;
            pal_count(PAL_COUNTER_DNS_LEARNED);
            return;
        }
        if (free_slot < 0 && (!a->slot[i].selector || a->slot[i].expires_ns < now)) free_slot = i;
    }
    if (free_slot >= 0) {
        a->slot[free_slot & (PAL_FQDN_SLOTS - 1)].expires_ns = expires;
        a->slot[free_slot & (PAL_FQDN_SLOTS - 1)].selector = selector;
        pal_count(PAL_COUNTER_DNS_LEARNED);
        return;
    }
    /* Learned for PAL_FQDN_SLOTS other selectors, all in force. */
    use = bpf_map_lookup_elem(&pal_fqdn_use, &cgid);
    if (use) __sync_fetch_and_add(&use->refused, 1);
refused:
    pal_count(PAL_COUNTER_DNS_REFUSED);
}

/* The answer's TTL in nanoseconds, within the configured bounds. */
static __always_inline __u64 pal_fqdn_ttl_ns(__u32 ttl, const struct pal_config* cfg) {
    if (ttl < cfg->fqdn_min_ttl) ttl = cfg->fqdn_min_ttl;
    if (ttl > cfg->fqdn_max_ttl) ttl = cfg->fqdn_max_ttl;
    return (__u64)ttl * 1000000000ULL;
}

/* Walks the answer section from the slot's `off` (set up by the caller): returns 1 when every
 * record parsed, within PAL_DNS_MAX_STEPS, with the addresses found in the slot. */
__attribute__((noinline)) int pal_dns_walk(struct __sk_buff* skb, __u32 slot) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);

    if (!sc) return 0;
    for (int step = 0; step < PAL_DNS_MAX_STEPS; step++) {
        if (!sc->left) return 1;
        if (!pal_dns_step(skb, slot)) return 0;
    }
    return !sc->left;
}

/* Learns the slot's address number `i` for its selector, for container `cgid`. */
__attribute__((noinline)) int pal_dns_learn_one(__u32 slot, __u32 i, __u64 cgid) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);
    struct pal_config* cfg = pal_cfg();
    __u32 at = i & (PAL_DNS_MAX_ADDRS - 1);
    struct pal_dest d = {};
    __u64 now = bpf_ktime_get_ns();

    if (!sc || !cfg) return 0;
    /* Keyed as a connect is judged: an IPv4-mapped or NAT64 (DNS64) AAAA record is the
     * IPv4 address it carries. */
    if (sc->family[at] == 4) {
        __u32 v4;

        __builtin_memcpy(&v4, sc->addr[at], 4);
        pal_dest_set_v4(&d, v4);
    } else {
        __u32 w[4];

        __builtin_memcpy(w, sc->addr[at], 16);
        pal_dest_set_v6(&d, w, cfg);
    }
    pal_fqdn_learn(cgid, d.family, d.addr, sc->selector, now + pal_fqdn_ttl_ns(sc->ttl[at], cfg),
                   now, cfg);
    return 0;
}

/* Learns the slot's addresses for its selector, for container `cgid`. */
__attribute__((noinline)) int pal_dns_learn(__u32 slot, __u64 cgid) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(slot);
    struct pal_fqdn_use* use;

    if (!sc) return 0;
    for (__u32 i = 0; i < PAL_DNS_MAX_ADDRS; i++) {
        if (i >= sc->naddrs) break;
        pal_dns_learn_one(slot, i, cgid);
    }
    if (sc->over) {
        pal_count_add(PAL_COUNTER_DNS_REFUSED, sc->over);
        use = bpf_map_lookup_elem(&pal_fqdn_use, &cgid);
        if (use) __sync_fetch_and_add(&use->refused, sc->over);
    }
    return 0;
}

/* fqdn.learnedEvents: a PAL_EVENT_DNS record of what the answer in `sc` taught. */
static __always_inline void pal_report_dns(const struct pal_subject* s,
                                           const struct pal_dns_scratch* sc) {
    struct pal_decision dec = {.verdict = PAL_VERDICT_ALLOW};
    struct pal_config* cfg = pal_cfg();
    struct pal_dns_event* e;

    if (!cfg || !cfg->fqdn_events) return;
    e = pal_reserve(s, sizeof(*e), false);
    if (!e) return;
    __builtin_memset(e, 0, sizeof(*e));
    pal_header_fill(&e->h, PAL_EVENT_DNS, s, PAL_HOOK_SKB_INGRESS, dec);
    e->selector = sc->selector;
    e->count = sc->naddrs;
    for (__u32 i = 0; i < PAL_DNS_EVENT_ADDRS; i++) {
        if (i >= sc->naddrs) break;
        e->family[i] = sc->family[i];
        __builtin_memcpy(e->addr[i], sc->addr[i], 16);
    }
    __builtin_memcpy(e->name, sc->key.k.name, PAL_DNS_NAME_MAX);
    pal_submit(e, sizeof(*e));
}

/* Learns from the DNS answer in `skb` from `msg` to `end`, if it answers a query noted for the
 * subject, from the resolver and over the packet in the ingress slot (pal_dns_answers_of puts
 * them there; see the top of this file). */
__attribute__((noinline)) int pal_dns_take_answer(struct __sk_buff* skb, __u32 msg, __u32 end) {
    struct pal_dns_scratch* sc = pal_dns_scratch_slot(PAL_DNS_SLOT_INGRESS);
    struct pal_dns_query_key k = {};
    struct pal_dns_header hdr;
    struct pal_dns_query* q;
    __u32 qlen;

    if (!sc) return 0;
    if (end < msg + PAL_DNS_HEADER || bpf_skb_load_bytes(skb, msg, &hdr, sizeof(hdr))) goto ignored;
    /* A truncated answer (TC) is asked again over TCP: this one teaches nothing. */
    if ((hdr.flags & bpf_htons(PAL_DNS_FLAG_QR | PAL_DNS_FLAG_TC | PAL_DNS_OPCODE_RCODE)) !=
            bpf_htons(PAL_DNS_FLAG_QR) ||
        hdr.qdcount != bpf_htons(1))
        goto ignored;
    pal_dns_key(&k, &sc->subject, &sc->peer, &sc->pkt, hdr.id);
    q = bpf_map_lookup_elem(&pal_dns_queries, &k);
    if (!q || bpf_ktime_get_ns() - q->sent_ns > PAL_DNS_QUERY_TIMEOUT_NS) goto ignored;
    qlen = pal_dns_question(skb, PAL_DNS_SLOT_INGRESS, msg + PAL_DNS_HEADER, end);
    if (!qlen || sc->hash != q->name_hash) goto ignored;
    sc->selector = q->selector;
    sc->msg = msg;
    sc->off = msg + PAL_DNS_HEADER + qlen + 4; /* past QTYPE and QCLASS */
    sc->end = end;
    sc->left = bpf_ntohs(hdr.ancount);
    sc->in_name = 1;
    sc->name_len = 0;
    sc->name_start = sc->off;
    sc->naddrs = 0;
    sc->over = 0;
    if (!pal_dns_walk(skb, PAL_DNS_SLOT_INGRESS)) goto ignored;
    if (bpf_map_delete_elem(&pal_dns_queries, &k) == 0) {
        struct pal_fqdn_use* use = bpf_map_lookup_elem(&pal_fqdn_use, &sc->subject.cgroup_id);

        if (use && use->pending) __sync_fetch_and_add(&use->pending, -1);
    }
    pal_count(PAL_COUNTER_DNS_ANSWERS);
    pal_dns_learn(PAL_DNS_SLOT_INGRESS, sc->subject.cgroup_id);
    pal_report_dns(&sc->subject, sc);
    return 0;
ignored:
    pal_count(PAL_COUNTER_DNS_IGNORED);
    return 0;
}

/*
 * DNS over TCP (RFC 7766): a segment is read from where the resolver's next message starts,
 * which the container's socket keeps in pal_dns_streams from the resolver's SYN-ACK on (its
 * sequence number + 1, then each message's length). A segment that starts inside a message
 * is thus never read as one, whatever the resolver sends or the container makes the
 * segments be (its window and MSS): the bytes of a record cannot pose as an answer. Whole
 * messages of a segment are read, up to PAL_DNS_TCP_MESSAGES; one that continues in the next
 * segment (an answer larger than the path's MSS) teaches nothing and is stepped over. A
 * segment received out of order loses the stream's place: nothing more is read from it.
 */
struct pal_dns_stream {
    __u32 next_seq; /* the resolver's sequence number of the next message's length */
    __u32 lost;     /* 1: where the next message starts is not known */
};

struct {
    __uint(type, BPF_MAP_TYPE_SK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct pal_dns_stream);
} pal_dns_streams SEC(".maps");

/* The answers of the TCP segment in ingress slot `sc` (pal_dns_answers_of). */
static __always_inline void pal_dns_tcp_answers(struct __sk_buff* skb, struct pal_dns_scratch* sc) {
    struct bpf_sock* sk = skb->sk;
    struct pal_dns_stream* st;
    __u32 at, skip, len, end, next;

    if (sk) sk = bpf_sk_fullsock(sk);
    if (!sk) return;
    if (sc->pkt.syn_ack) {
        sc->peer.port = PAL_DNS_PORT;
        sc->peer.protocol = IPPROTO_TCP;
        if (!pal_resolver_allowed(&sc->subject, &sc->peer)) return;
        st = bpf_sk_storage_get(&pal_dns_streams, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
        if (st) {
            st->next_seq = sc->pkt.seq + 1;
            st->lost = 0;
        }
        return;
    }
    at = sc->pkt.payload;
    end = sc->pkt.end;
    if (at == end) return; /* an ACK */
    st = bpf_sk_storage_get(&pal_dns_streams, sk, NULL, 0);
    if (!st || st->lost) goto ignored;
    next = st->next_seq;
    /* Serial number arithmetic. A segment past a gap (received out of order): the bytes
     * before it will come again, but not it, so where messages start is lost. */
    if ((__s32)(sc->pkt.seq - next) > 0) goto lost;
    /* A retransmission of bytes read already: `skip` is past its end. */
    skip = next - sc->pkt.seq;
    if (skip >= end - at) return;
    at += skip;
    for (int n = 0; n < PAL_DNS_TCP_MESSAGES; n++) {
        if (at >= end) return;
        len = pal_dns_tcp_length(skb, at, end);
        if (!len) break; /* the length is cut (or 0, which no resolver sends) */
        next = sc->pkt.seq + (at - sc->pkt.payload) + 2 + len;
        st->next_seq = next;
        if (at + 2 + len > end) goto ignored; /* stepped over */
        pal_dns_take_answer(skb, at + 2, at + 2 + len);
        at += 2 + len;
    }
    if (at >= end) return;
lost:
    st->lost = 1;
ignored:
    pal_count(PAL_COUNTER_DNS_IGNORED);
}

/* Learns from the DNS answers of the packet and subject in ingress slot `sc`
 * (pal_dns_packet_in; see the top of this file). */
static __always_inline void pal_dns_answers_of(struct __sk_buff* skb, struct pal_dns_scratch* sc) {
    if (!(sc->subject.policy.flags & PAL_POLICY_FQDN)) return;
    __builtin_memset(&sc->peer, 0, sizeof(sc->peer));
    if (!pal_skb_sender(skb, &sc->peer)) return;
    /* A packet that came over loopback was sent inside the namespace, where a process can
     * bind any address (IP_FREEBIND): it speaks for the resolver only when that is a
     * loopback address, which the policy then names on purpose. */
    if (skb->ingress_ifindex == PAL_LOOPBACK_IFINDEX && !pal_dest_is_loopback(&sc->peer)) {
        if (sc->pkt.end > sc->pkt.payload) pal_count(PAL_COUNTER_DNS_IGNORED);
        return;
    }
    if (sc->pkt.protocol == IPPROTO_UDP)
        pal_dns_take_answer(skb, sc->pkt.payload, sc->pkt.end);
    else
        pal_dns_tcp_answers(skb, sc);
}

/* cgroup_skb/ingress: learns from the answers to noted queries. Never drops. */
static __always_inline void pal_dns_ingress(struct __sk_buff* skb) {
    struct pal_config* cfg = pal_cfg();
    struct pal_dns_scratch* sc;

    if (!cfg || !cfg->fqdn_on) return;
    sc = pal_dns_packet_in(skb, false);
    if (sc && pal_skb_subject(skb, &sc->subject)) pal_dns_answers_of(skb, sc);
}
