// What addresses each container has (docs/reference/enforcement.md#inter-container): read from
// /proc/<pid>/net of a process in its cgroup, which needs no capability and no entry into the
// container's network namespace.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "containers/container.h"
#include "util/fd.h"

namespace palisade {

// The local IPv4 addresses in a /proc/<pid>/net/fib_trie: the leaves with a
// "/32 host LOCAL" entry, but 127.0.0.0/8.
std::vector<IpAddress> parseFibTrieLocal(std::string_view text);
// The IPv6 addresses in a /proc/<pid>/net/if_inet6, but host-scope ones (::1).
std::vector<IpAddress> parseIfInet6(std::string_view text);

// The addresses of one network namespace that count (docs/reference/enforcement.md#capacity):
// a container that adds thousands to its own namespace must not fill pal_addr4/pal_addr6,
// whose room the other containers' addresses need.
constexpr size_t kMaxNetnsAddresses = 256;

struct LearnedAddresses {
    // By cgroup id: every container with a network namespace of its own (one
    // with a process in its cgroup, other than the agent's namespace: a
    // container on the host network has no address of its own), sorted.
    std::map<uint64_t, std::vector<IpAddress>> byContainer;
    // By cgroup id: containers with a process whose addresses could not be
    // read, and why.
    std::map<uint64_t, std::string> unreadable;
    // By cgroup id: the network namespace (its fib_trie's inode) of each container
    // in byContainer; containers of one pod share one.
    std::map<uint64_t, uint64_t> netnsOf;
    // By cgroup id: addresses a container's namespace holds that are another
    // container's (resolveAddressOwners), and whose they are.
    std::map<uint64_t, std::map<IpAddress, uint64_t>> conflicts;
    // By cgroup id: how many addresses its namespace holds when that is more than
    // kMaxNetnsAddresses; byContainer has the first kMaxNetnsAddresses of them (in order).
    std::map<uint64_t, size_t> tooMany;
    bool operator==(const LearnedAddresses&) const = default;
};

// One owner per address (docs/reference/enforcement.md#inter-container). A process in a
// container can add any address to its own network namespace, another container's
// included; the address map must not follow it there. When namespaces other than one
// pod's hold the same address, it goes to a container the runtime gave it (`recorded`:
// address → the cgroup ids of the containers whose Container::recordedAddresses hold
// it); when none of those holds it yet and none's namespace is known, to no one; when
// their namespaces are known and lack it, the record is stale and counts for nothing.
// Among several holders that may have it, it stays with the container that owned it in
// `previous` (the last pass), else goes to the lowest cgroup id (the oldest cgroup). It
// is taken off the others' lists and noted in their `conflicts`. Containers sharing a
// namespace (a pod) share its addresses without conflict.
void resolveAddressOwners(LearnedAddresses& learned, const LearnedAddresses& previous,
                          const std::map<IpAddress, std::vector<uint64_t>>& recorded);

// Containers that share a network namespace (a pod, docker's `--network container:`) are one
// endpoint, the oldest of them (the lowest cgroup id: a pod's sandbox): each of the others'
// cgroup id → that endpoint's, from `learned.netnsOf`. The address maps name the endpoint
// for the namespace's addresses, and to each of them those addresses are its own.
std::map<uint64_t, uint64_t> podEndpoints(const LearnedAddresses& learned);

// Address → cgroup ids of the containers whose runtime records it (all of a pod's
// containers record the pod's addresses), in the order of `containers`.
std::map<IpAddress, std::vector<uint64_t>> recordedOwners(const std::vector<Container>& containers);

// Learns the addresses of containers, again and again (the agent asks every
// second). A container's namespace counts once it is settled (Seen, below): a new
// container's addresses are known from the first pass half a second after it starts. Each network
// namespace is found once, through a process of the container: its /proc/<pid>/net/fib_trie and
// if_inet6 are opened and kept open (an open file holds on to the namespace it shows, whatever
// becomes of the process), so that after that a learn() costs two reads per namespace and nothing
// per container whose namespace is known, and an idle agent with a thousand containers stays idle
// (docs/reference/targets.md).
class AddressLearner {
  public:
    // How long a namespace is seen before it counts (Seen, below), and how long runc's
    // set-up names are taken for what they say.
    struct Timings {
        std::chrono::milliseconds settle{500};
        std::chrono::milliseconds setUpWindow{5000};
    };
    AddressLearner();
    explicit AddressLearner(Timings timings);
    AddressLearner(const AddressLearner&) = delete;
    AddressLearner& operator=(const AddressLearner&) = delete;

    // Never throws. Containers with no process yet are in neither map.
    LearnedAddresses learn(const std::vector<Container>& containers);
    // Makes the next learn() look every container's namespace up again (a container
    // whose processes were replaced may be in another one now); the one it had stays
    // its own until another one settles.
    void forgetNamespaces();

  private:
    struct NetnsFiles {
        Fd fibTrie;
        Fd ifInet6;  // absent when IPv6 is off
    };

    // Where a container's process was seen. A runtime puts a container's first process
    // in its cgroup before that process enters the container's network namespace
    // (runc's `runc init` starts in the runtime's own, and passes run as often as
    // containers change): runc's set-up stages are passed over in a container's first
    // setUpWindow, and a namespace counts only once it is settled, seen in passes
    // `settle` apart, or through a process old enough to be past any set-up. A settled
    // namespace is not looked up again until forgetNamespaces(), and stays the
    // container's until another one settles (the host network's, own_, included).
    static constexpr size_t kProcessesLooked = 8;
    struct Candidate {
        ino_t netns = 0;
        std::chrono::steady_clock::time_point since;
    };
    struct Seen {
        std::chrono::steady_clock::time_point firstSeen;
        ino_t netns = 0;      // the settled namespace; 0: none yet
        Candidate candidate;  // another namespace, seen since, not settled yet
    };

    Timings timings_;
    ino_t own_;                      // the agent's network namespace
    std::map<uint64_t, Seen> seen_;  // by cgroup id; own_: host network
    bool recheck_ = false;           // look every container up again
    // By the inode of the namespace's fib_trie (/proc gives each namespace's
    // files inodes of their own).
    std::map<ino_t, NetnsFiles> netns_;
};

}  // namespace palisade
