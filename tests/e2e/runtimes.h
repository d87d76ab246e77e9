// Real container runtimes for tests/e2e, each started by the test with state of its own
// under a temporary directory, so that nothing of the machine's (its dockerd, its
// /var/lib/containers) is used or touched:
//
//   Dockerd     dockerd + its containerd, in the sandbox's bridge netns: docker0 is
//               198.18.250.1/24 there, no iptables, cgroupfs driver, every container
//               below <sandbox cgroup tree>/docker/<id>.
//   Containerd  containerd without its CRI plugin; containers are made with `ctr -n k8s.io
//               run --cgroup <tree>/kubepods/burstable/pod<uid>/<id>` and the annotations
//               the kubelet's CRI runtime writes, in a netns the test wired.
//   Podman      podman with --root/--runroot of its own, runc, the cgroupfs manager,
//               containers below <tree>/podman/libpod-<id>, in a netns the test wired
//               or on a CNI network of its own in the sandbox's bridge netns,
//               OCI hooks from a directory of its own only (empty unless the test
//               writes a hook there), never the machine's.
//
// Each makes the image itself from BusyboxImage (no registry). RAII: the destructor
// removes every container and image it made, stops its daemon by PID and removes its
// temporary directory. runc also makes the tree's path in every cgroup v1 hierarchy of
// a hybrid host: removeCgroupV1Dirs() removes that once the runtimes are gone.
// A runtime that does not come up throws std::runtime_error with the tail of its log.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "harness.h"

namespace palisade::test {

// A root file system: busybox-static (sh, sleep, ...), /net_probe, /exec_probe and
// /setuid_probe (exec_probe, root-owned, mode 4755), as a tar file; and the same as
// an OCI image layout tar (for ctr).
class BusyboxImage {
  public:
    explicit BusyboxImage(const std::string& dir);
    const std::string& rootfsTar() const { return rootfsTar_; }
    const std::string& ociTar() const { return ociTar_; }
    static constexpr const char* kName = "localhost/palisade-e2e:latest";

  private:
    std::string rootfsTar_;
    std::string ociTar_;
};

// A daemon run by the test: stdout and stderr into `log`, in `netns` ("" = the test's).
// Stopped by PID with SIGTERM (SIGKILL after 20 s) by stop() or the destructor.
class Daemon {
  public:
    Daemon(const std::vector<std::string>& argv, const std::string& netns, const std::string& log);
    ~Daemon() { stop(); }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;
    bool running() const;
    std::string logTail() const;
    void stop();

  private:
    pid_t pid_ = -1;
    std::string log_;
};

class Dockerd {
  public:
    Dockerd(Sandbox& sandbox, const BusyboxImage& image);
    ~Dockerd();
    // /usr/bin/docker against this daemon.
    RunResult docker(const std::vector<std::string>& args, Millis timeout = Millis{60000}) const;
    std::string dockerChecked(const std::vector<std::string>& args) const;
    const std::string& dataRoot() const { return dataRoot_; }
    static constexpr const char* kBridgeIp = "198.18.250.1";

  private:
    std::string dir_;
    std::string dataRoot_;
    std::string socket_;
    std::string cgroupParent_;
    std::unique_ptr<Daemon> daemon_;
};

class Containerd {
  public:
    Containerd(Sandbox& sandbox, const BusyboxImage& image);
    ~Containerd();
    RunResult ctr(const std::vector<std::string>& args, Millis timeout = Millis{60000}) const;
    std::string ctrChecked(const std::vector<std::string>& args) const;
    const std::string& state() const { return state_; }
    // A pod's container, as the kubelet's CRI runtime makes it: id (64 hex), the cgroup
    // kubepods/burstable/pod<podUid>/<id> below the tree, the CRI annotations, the netns
    // of `network`, running `command`. Returns the id.
    std::string runPodContainer(const std::string& k8sNamespace, const std::string& pod,
                                const std::string& name, const Container& network,
                                const std::vector<std::string>& command);
    // `ctr tasks exec` in the container; the output.
    RunResult exec(const std::string& id, const std::vector<std::string>& command) const;

  private:
    std::string dir_;
    std::string state_;
    std::string socket_;
    std::string cgroupTree_;  // relative to the cgroup2 mount
    std::vector<std::string> made_;
    std::unique_ptr<Daemon> daemon_;
};

class Podman {
  public:
    Podman(Sandbox& sandbox, const BusyboxImage& image);
    ~Podman();
    // podman with this instance's storage, runtime and cgroup options.
    RunResult podman(const std::vector<std::string>& args, Millis timeout = Millis{60000}) const;
    std::string podmanChecked(const std::vector<std::string>& args) const;
    const std::string& graphRoot() const { return root_; }
    const std::string& runRoot() const { return runRoot_; }
    // The only directory podman reads OCI hook files from (--hooks-dir); empty at first.
    const std::string& hooksDir() const { return hooksDir_; }
    // The `podman run` options that place a container in the tree and in `network`.
    std::vector<std::string> placement(const Container& network) const;
    // The same on kCniNetwork, where podman gives the container its address.
    std::vector<std::string> placementOnCniNetwork() const;
    // A CNI bridge network of the instance's own (bridge palcni0, 198.18.62.0/24, no
    // masquerade, so no netfilter rule), whose bridge is in the sandbox's bridge netns:
    // every podman command runs there, so the CNI plugins do.
    static constexpr const char* kCniNetwork = "palisade-e2e";
    static constexpr const char* kCniSubnet = "198.18.62";

  private:
    // The options of placement(), with `network` as podman's --network.
    std::vector<std::string> placementOn(const std::string& network) const;

    std::string bridgeNetns_;
    std::string dir_;
    std::string root_;
    std::string runRoot_;
    std::string hooksDir_;
    std::string cgroupParent_;
};

// The cgroup v1 directories at `relative` (below each v1 hierarchy's mount) and below,
// removed deepest first: runc makes them on a hybrid host and leaves the parents.
// Errors are reported on stderr, not thrown.
void removeCgroupV1Dirs(const std::string& relative);

}  // namespace palisade::test
