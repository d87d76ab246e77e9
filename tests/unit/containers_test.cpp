// Container discovery: cgroup path forms, runtime metadata, the tree walk, the
// cgroup2 mount and selectors (docs/reference/policy-language.md,
// docs/reference/state-and-lifecycle.md#containers). Fixtures are built in a temp dir, but
// for podman's database, made by the real podman (tests/data/podman/).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <system_error>

#include "containers/container.h"
#include "podman_fixture.h"
#include "temp_dir.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

const std::string kId = "3f2a9c0d1e2b3a4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4";
const std::string kId2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

using testing::TempDir;

// ---------------------------------------------------------------- cgroup paths

struct CgroupCase {
    std::string path;
    std::string runtime;  // empty: not a container
};

void PrintTo(const CgroupCase& c, std::ostream* os) { *os << '"' << c.path << '"'; }

class CgroupPathTest : public ::testing::TestWithParam<CgroupCase> {};

TEST_P(CgroupPathTest, Parses) {
    const CgroupCase& tc = GetParam();
    auto identity = parseContainerCgroup(tc.path);
    if (tc.runtime.empty()) {
        EXPECT_FALSE(identity.has_value()) << "runtime " << identity->runtime;
        return;
    }
    ASSERT_TRUE(identity.has_value());
    EXPECT_EQ(identity->runtime, tc.runtime);
    EXPECT_EQ(identity->id, kId);
}

const std::string kPodSlice =
    "kubepods.slice/kubepods-burstable.slice/"
    "kubepods-burstable-pod1b2c3d4e_5f60_7182_93a4_b5c6d7e8f901.slice";
const std::string kUserSlice = "user.slice/user-1000.slice/user@1000.service/user.slice";

INSTANTIATE_TEST_SUITE_P(
    Containers, CgroupPathTest,
    ::testing::Values(
        // docker, systemd and cgroupfs drivers
        CgroupCase{"system.slice/docker-" + kId + ".scope", "docker"},
        CgroupCase{"/system.slice/docker-" + kId + ".scope", "docker"},
        CgroupCase{"/system.slice/docker-" + kId + ".scope/", "docker"},
        CgroupCase{"docker/" + kId, "docker"}, CgroupCase{"/docker/" + kId, "docker"},
        // containerd under kubelet, systemd driver (qos slice, and guaranteed without)
        CgroupCase{kPodSlice + "/cri-containerd-" + kId + ".scope", "containerd"},
        CgroupCase{
            "kubepods.slice/kubepods-pod1b2c3d4e_5f60.slice/cri-containerd-" + kId + ".scope",
            "containerd"},
        // containerd under kubelet, cgroupfs driver
        CgroupCase{"kubepods/besteffort/pod1b2c3d4e-5f60-7182-93a4-b5c6d7e8f901/" + kId,
                   "containerd"},
        CgroupCase{"kubepods/burstable/pod1b2c3d4e-5f60/" + kId, "containerd"},
        CgroupCase{"/kubepods/pod1b2c3d4e-5f60/" + kId, "containerd"},
        // cri-o, anywhere; its cgroupfs manager drops ".scope"
        CgroupCase{kPodSlice + "/crio-" + kId + ".scope", "cri-o"},
        CgroupCase{"system.slice/crio-" + kId + ".scope", "cri-o"},
        CgroupCase{"kubepods/burstable/pod1b2c3d4e-5f60/crio-" + kId, "cri-o"},
        // podman, system and user slices
        CgroupCase{"machine.slice/libpod-" + kId + ".scope", "podman"},
        CgroupCase{kUserSlice + "/libpod-" + kId + ".scope", "podman"},
        CgroupCase{"machine.slice/machine-libpod_pod_abc.slice/libpod-" + kId + ".scope",
                   "podman"}));

INSTANTIATE_TEST_SUITE_P(
    NotContainers, CgroupPathTest,
    ::testing::Values(
        CgroupCase{"", ""}, CgroupCase{"/", ""}, CgroupCase{"system.slice", ""},
        CgroupCase{"system.slice/sshd.service", ""}, CgroupCase{"system.slice/docker.service", ""},
        CgroupCase{"kubepods.slice", ""}, CgroupCase{"kubepods.slice/kubepods-burstable.slice", ""},
        CgroupCase{kPodSlice, ""}, CgroupCase{"kubepods/burstable/pod1b2c3d4e-5f60", ""},
        CgroupCase{"docker", ""},
        // conmon monitors are not the container
        CgroupCase{kPodSlice + "/crio-conmon-" + kId + ".scope", ""},
        CgroupCase{"machine.slice/libpod-conmon-" + kId + ".scope", ""},
        CgroupCase{kUserSlice + "/libpod-conmon-" + kId + ".scope", ""},
        // ids that are not 64 lowercase hex characters
        CgroupCase{"system.slice/docker-" + kId.substr(1) + ".scope", ""},
        CgroupCase{"system.slice/docker-" + kId + "0.scope", ""},
        CgroupCase{"docker/" + kId.substr(1), ""},
        CgroupCase{"system.slice/docker-3F2A" + kId.substr(4) + ".scope", ""},
        CgroupCase{"system.slice/docker-" + kId.substr(0, 63) + "g.scope", ""},
        CgroupCase{"system.slice/docker-.scope", ""},
        // a bare id outside docker/ or a kubepods pod directory
        CgroupCase{kId, ""}, CgroupCase{"system.slice/" + kId, ""},
        CgroupCase{"notkubepods/pod1b2c/" + kId, ""},
        CgroupCase{"kubepods/guaranteed/x/" + kId, ""},
        // unknown prefixes and suffixes
        CgroupCase{"system.slice/containerd-" + kId + ".scope", ""},
        CgroupCase{"system.slice/docker-" + kId + ".service", ""},
        // nested cgroups inside a container's cgroup: the container is the parent
        CgroupCase{"system.slice/docker-" + kId + ".scope/nested", ""},
        CgroupCase{"system.slice/docker-" + kId + ".scope/docker/" + kId, ""},
        CgroupCase{"machine.slice/libpod-" + kId + ".scope/container", ""},
        CgroupCase{"docker/" + kId + "/init.scope", ""}));

// ---------------------------------------------------------------- metadata

class ContainerMetadataTest : public ::testing::Test {
  protected:
    TempDir tmp;
    RuntimeRoots roots{(tmp.path() / "docker").string(), (tmp.path() / "containerd").string(),
                       (tmp.path() / "storage").string(), (tmp.path() / "podman").string()};
    const std::map<std::string, std::string> podmanIds = test::podmanFixtureIds();

    Container read(const std::string& runtime, const std::string& id = kId) {
        Container c;
        c.id = id;
        c.runtime = runtime;
        readContainerMetadata(c, roots);
        return c;
    }
    void writeDocker(const std::string& text) {
        tmp.write("docker/containers/" + kId + "/config.v2.json", text);
    }
    void writeBundle(const std::string& ns, const std::string& text) {
        tmp.write("containerd/io.containerd.runtime.v2.task/" + ns + "/" + kId + "/config.json",
                  text);
    }
    void writeCrio(const std::string& text) {
        tmp.write("storage/overlay-containers/" + kId + "/userdata/config.json", text);
    }
    void writePodmanBolt() { tmp.write("podman/libpod/bolt_state.db", test::podmanBoltFixture()); }
    std::string dockerFile() const {
        return tmp / ("docker/containers/" + kId + "/config.v2.json");
    }
    std::string bundleFile(const std::string& id = kId) const {
        return tmp / ("containerd/io.containerd.runtime.v2.task/k8s.io/" + id + "/config.json");
    }
    std::string crioFile() const {
        return tmp / ("storage/overlay-containers/" + kId + "/userdata/config.json");
    }
    std::string podmanBolt() const { return tmp / "podman/libpod/bolt_state.db"; }
    std::string podmanSqlite() const { return tmp / "podman/db.sql"; }
};

void expectNoIdentity(const Container& c) {
    EXPECT_EQ(c.name, "");
    EXPECT_EQ(c.k8sNamespace, "");
    EXPECT_EQ(c.pod, "");
    EXPECT_TRUE(c.labels.empty());
}

// Read, but nothing in it to select by.
void expectEmpty(const Container& c) {
    expectNoIdentity(c);
    EXPECT_EQ(c.metadataError, "");
}

// Not read, and reported: "<file>: <why>".
void expectUnreadable(const Container& c, const std::string& error) {
    expectNoIdentity(c);
    EXPECT_EQ(c.metadataError, error);
}

// A label io.kubernetes.pod.namespace=kube-system that a user gave: no pod, and a
// selector of that namespace does not match, one of that label does.
void expectKubeSystemOnlyAsALabel(const Container& c) {
    EXPECT_EQ(c.k8sNamespace, "");
    EXPECT_EQ(c.pod, "");
    EXPECT_EQ(c.labels.at("io.kubernetes.pod.namespace"), "kube-system");
    Selector kubeSystem;
    kubeSystem.namespace_ = "kube-system";
    EXPECT_FALSE(selectorMatches(kubeSystem, c));
    Selector byLabel;
    byLabel.labels = {{"io.kubernetes.pod.namespace", "kube-system"}};
    EXPECT_TRUE(selectorMatches(byLabel, c)) << "still an ordinary label";
}

TEST_F(ContainerMetadataTest, DockerNameAndLabels) {
    writeDocker(R"({"ID": "x", "Name": "/api", "Config": {"Labels": {"app": "api",
                   "tier": "web", "bogus": 3}}})");
    Container c = read("docker");
    EXPECT_EQ(c.name, "api");
    EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"app", "api"}, {"tier", "web"}}));
    EXPECT_EQ(c.k8sNamespace, "");
    EXPECT_EQ(c.pod, "");
    EXPECT_EQ(c.metadataError, "");
}

// What docker's IPAM gave a container, on every network it is on, as config.v2.json
// (docker 20.10) keeps it; empty strings (IPv6 off) and malformed values left out.
TEST_F(ContainerMetadataTest, DockerRecordedAddresses) {
    writeDocker(R"({"Name": "/api", "NetworkSettings": {"Networks": {
        "bridge": {"IPAddress": "198.18.250.3", "GlobalIPv6Address": "fd00:250::3"},
        "back": {"IPAddress": "198.18.251.7", "GlobalIPv6Address": ""},
        "odd": {"IPAddress": "198.18.252.0/24", "GlobalIPv6Address": 6},
        "again": {"IPAddress": "198.18.250.3"}}}})");
    std::vector<std::string> got;
    for (const IpAddress& a : read("docker").recordedAddresses) got.push_back(a.str());
    EXPECT_EQ(got, (std::vector<std::string>{"198.18.250.3", "198.18.251.7", "fd00:250::3"}));

    for (const char* text : {R"({"Name": "/none", "NetworkSettings": {"Networks": {}}})",
                             R"({"NetworkSettings": {"Networks": ["198.18.250.3"]}})",
                             R"({"NetworkSettings": null})"}) {
        writeDocker(text);
        EXPECT_TRUE(read("docker").recordedAddresses.empty()) << text;
    }
}

// The recorded addresses select nothing: docker writing them after the agent first read
// the container is no change of identity (which would recompile every policy set).
TEST(Containers, RecordedAddressesAreNoChangeOfIdentity) {
    Container a;
    a.id = "x";
    a.name = "api";
    Container b = a;
    b.recordedAddresses = {IpAddress{4, {198, 18, 250, 3}}};
    EXPECT_TRUE(sameIdentity(a, b));
    b.labels["app"] = "api";
    EXPECT_FALSE(sameIdentity(a, b));
}

// Anyone who may `docker run --label io.kubernetes.pod.namespace=kube-system` would
// otherwise be selected by policies written for that namespace (issue 16, item 7).
TEST_F(ContainerMetadataTest, DockerKubernetesLabelsAreOnlyLabels) {
    writeDocker(R"({"Name": "/k8s_api_api-7d9_kube-system_uid_0", "Config": {"Labels": {
        "io.kubernetes.pod.namespace": "kube-system", "io.kubernetes.pod.name": "api-7d9",
        "io.kubernetes.container.name": "api"}}})");
    Container c = read("docker");
    EXPECT_EQ(c.name, "k8s_api_api-7d9_kube-system_uid_0");
    EXPECT_EQ(c.labels.at("io.kubernetes.pod.name"), "api-7d9");
    expectKubeSystemOnlyAsALabel(c);
}

TEST_F(ContainerMetadataTest, DockerNullLabels) {
    writeDocker(R"({"Name": "/db", "Config": {"Labels": null}})");
    Container c = read("docker");
    EXPECT_EQ(c.name, "db");
    EXPECT_TRUE(c.labels.empty());
}

// Issue 16: a container whose metadata cannot be read matches no selector of name,
// labels or Kubernetes identity, and falls under defaults.unmatched; that must be said.
TEST_F(ContainerMetadataTest, DockerMissingOrMalformedIsReported) {
    expectUnreadable(read("docker"), dockerFile() + ": No such file or directory");
    const std::pair<const char*, const char*> cases[] = {{"", "not JSON"},
                                                         {"{", "not JSON"},
                                                         {"not json", "not JSON"},
                                                         {"[1,2]", "not a JSON object"},
                                                         {"null", "not a JSON object"}};
    for (const auto& [text, why] : cases) {
        writeDocker(text);
        expectUnreadable(read("docker"), dockerFile() + ": " + why);
    }
}

// Fields of another type than docker writes are left out; the file itself was read.
TEST_F(ContainerMetadataTest, DockerWrongTypesAreLeftOut) {
    for (const char* text : {R"({"Name": 7})", R"({"Name": "/x", "Config": "nope"})",
                             R"({"Config": {"Labels": ["a"]}})"}) {
        writeDocker(text);
        Container c = read("docker");
        EXPECT_TRUE(c.labels.empty()) << text;
        EXPECT_EQ(c.k8sNamespace, "") << text;
        EXPECT_EQ(c.metadataError, "") << text;
    }
}

TEST_F(ContainerMetadataTest, OversizedFileIsReported) {
    std::string big = R"({"Name": "/big", "Pad": ")" + std::string(4 * 1024 * 1024, 'x') + "\"}";
    writeDocker(big);
    expectUnreadable(read("docker"), dockerFile() + ": over 4 MiB");
}

// Whatever the cause (a directory here, so that it holds when the tests run as root too).
TEST_F(ContainerMetadataTest, UnreadableFileIsReported) {
    tmp.mkdirs("docker/containers/" + kId + "/config.v2.json");
    expectUnreadable(read("docker"), dockerFile() + ": Is a directory");
}

const char* const kCriAnnotations = R"({"ociVersion": "1.1.0", "annotations": {
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.container-name": "api",
    "io.kubernetes.cri.sandbox-namespace": "prod",
    "io.kubernetes.cri.sandbox-name": "api-7d9"}})";

TEST_F(ContainerMetadataTest, ContainerdCriBundle) {
    writeBundle("k8s.io", kCriAnnotations);
    Container c = read("containerd");
    EXPECT_EQ(c.name, "api");
    EXPECT_EQ(c.k8sNamespace, "prod");
    EXPECT_EQ(c.pod, "api-7d9");
    EXPECT_TRUE(c.labels.empty()) << "labels come only from docker and podman";
    EXPECT_EQ(c.metadataError, "");
}

// Docker's tasks (moby) and nerdctl's (default) take `--annotation` from their users.
TEST_F(ContainerMetadataTest, ContainerdBundlesOutsideK8sIoAreNotKubernetes) {
    for (const std::string ns : {"moby", "default"}) {
        TempDir fresh;
        roots.containerdState = (fresh.path() / "containerd").string();
        fresh.write("containerd/io.containerd.runtime.v2.task/" + ns + "/" + kId + "/config.json",
                    kCriAnnotations);
        expectUnreadable(read("containerd"),
                         fresh / ("containerd/io.containerd.runtime.v2.task/k8s.io/" + kId +
                                  "/config.json: No such file or directory"));
    }
}

// containerd passes pod annotations through to the bundle when configured to; the keys
// cri-o writes could be such an annotation there, and the reverse.
TEST_F(ContainerMetadataTest, EachRuntimeReadsOnlyTheKeysItsCriWrites) {
    writeBundle("k8s.io", R"({"annotations": {"io.kubernetes.pod.namespace": "kube-system",
        "io.kubernetes.pod.name": "coredns-5d78", "io.kubernetes.container.name": "coredns"}})");
    expectEmpty(read("containerd"));
    writeCrio(kCriAnnotations);
    expectEmpty(read("cri-o"));
}

TEST_F(ContainerMetadataTest, ContainerdWithoutAnnotationsOrBundle) {
    expectUnreadable(read("containerd"), bundleFile() + ": No such file or directory");
    writeBundle("k8s.io", R"({"ociVersion": "1.1.0"})");
    expectEmpty(read("containerd"));
    writeBundle("k8s.io", "{broken");
    expectUnreadable(read("containerd"), bundleFile() + ": not JSON");
    writeBundle("k8s.io", R"({"annotations": {"io.kubernetes.cri.container-name": 5}})");
    expectEmpty(read("containerd"));
    expectUnreadable(read("containerd", kId2), bundleFile(kId2) + ": No such file or directory");
}

TEST_F(ContainerMetadataTest, Crio) {
    writeCrio(R"({"annotations": {"io.kubernetes.pod.namespace": "kube-system",
        "io.kubernetes.pod.name": "coredns-5d78", "io.kubernetes.container.name": "coredns",
        "io.kubernetes.cri-o.ContainerType": "container"}})");
    Container c = read("cri-o");
    EXPECT_EQ(c.name, "coredns");
    EXPECT_EQ(c.k8sNamespace, "kube-system");
    EXPECT_EQ(c.pod, "coredns-5d78");
    EXPECT_TRUE(c.labels.empty());
    EXPECT_EQ(c.metadataError, "");
}

TEST_F(ContainerMetadataTest, CrioMissingOrMalformed) {
    expectUnreadable(read("cri-o"), crioFile() + ": No such file or directory");
    writeCrio("]");
    expectUnreadable(read("cri-o"), crioFile() + ": not JSON");
    writeCrio(R"({"annotations": []})");
    expectEmpty(read("cri-o"));
}

// Podman's own database, as the real podman 4.3.1 wrote it (BoltDB).
TEST_F(ContainerMetadataTest, PodmanNameAndLabelsFromItsDatabase) {
    writePodmanBolt();
    Container web = read("podman", podmanIds.at("web"));
    EXPECT_EQ(web.name, "web");
    EXPECT_EQ(web.labels, (std::map<std::string, std::string>{{"app", "shop"}, {"tier", "front"}}));
    EXPECT_EQ(web.k8sNamespace, "");
    EXPECT_EQ(web.pod, "");
    EXPECT_EQ(web.metadataError, "");
    Container db = read("podman", podmanIds.at("db"));
    EXPECT_EQ(db.name, "db");
    EXPECT_TRUE(db.labels.empty());
    EXPECT_EQ(db.metadataError, "");
}

// `podman create --label io.kubernetes.pod.namespace=kube-system --annotation
// io.kubernetes.pod.namespace=kube-system`, and a bundle with cri-o's keys: anyone who may
// run podman writes them, so they make no pod.
TEST_F(ContainerMetadataTest, PodmanLabelsAndAnnotationsNeverMakeAPod) {
    writePodmanBolt();
    const std::string id = podmanIds.at("fake");
    tmp.write("storage/overlay-containers/" + id + "/userdata/config.json",
              R"({"annotations": {"io.container.manager": "libpod",
        "io.kubernetes.pod.namespace": "kube-system", "io.kubernetes.pod.name": "coredns-5d78",
        "io.kubernetes.container.name": "coredns"}})");
    Container c = read("podman", id);
    EXPECT_EQ(c.name, "fake");
    expectKubeSystemOnlyAsALabel(c);
}

TEST_F(ContainerMetadataTest, PodmanDatabaseMissingCorruptOrWithoutTheContainer) {
    expectUnreadable(
        read("podman"),
        roots.podmanRoot + ": no podman database in it (libpod/bolt_state.db, db.sql)");
    writePodmanBolt();
    expectUnreadable(read("podman"), podmanBolt() + ": does not list the container");
    tmp.write("podman/libpod/bolt_state.db", test::podmanBoltFixture().substr(0, 65536));
    Container c = read("podman", podmanIds.at("web"));
    expectNoIdentity(c);
    EXPECT_THAT(c.metadataError, ::testing::StartsWith(podmanBolt() + ": truncated: "));
}

TEST_F(ContainerMetadataTest, PodmanConfigThatIsNotAJsonObject) {
    tmp.mkdirs("podman");
    test::PodmanSqlite db(podmanSqlite());
    db.insert(kId, "array", "[1]");
    db.insert(kId2, "broken", "{");
    expectUnreadable(read("podman", kId), podmanSqlite() + ": not a JSON object");
    expectUnreadable(read("podman", kId2), podmanSqlite() + ": not JSON");
}

TEST_F(ContainerMetadataTest, PodmanFieldsOfAnotherTypeAreLeftOut) {
    tmp.mkdirs("podman");
    test::PodmanSqlite db(podmanSqlite());
    db.insert(kId, "x", R"({"name": 5, "labels": {"a": 1, "b": "x", "c": null}})");
    db.insert(kId2, "y", R"({"name": "y", "labels": ["a"]})");
    Container c = read("podman", kId);
    EXPECT_EQ(c.name, "");
    EXPECT_EQ(c.labels, (std::map<std::string, std::string>{{"b", "x"}}));
    EXPECT_EQ(c.metadataError, "");
    c = read("podman", kId2);
    EXPECT_EQ(c.name, "y");
    EXPECT_TRUE(c.labels.empty());
}

// The state podman 4.3.1 wrote for a container on a CNI bridge network (networkStatus),
// and podman 3's CNI results (networkResults).
TEST_F(ContainerMetadataTest, PodmanRecordedAddresses) {
    tmp.mkdirs("podman");
    test::PodmanSqlite db(podmanSqlite());
    db.insert(kId, "web", R"({"name": "web"})");
    db.insertState(kId, R"({"state": 3, "pid": 10283, "networkStatus": {"palnet": {"interfaces":
        {"eth0": {"subnets": [{"ipnet": "198.18.61.4/24", "gateway": "198.18.61.1"},
                              {"ipnet": "fd00:61::4/64", "gateway": "fd00:61::1"}],
                  "mac_address": "3e:d1:99:53:b5:da"}}},
        "other": {"interfaces": {"eth1": {"subnets": [{"ipnet": 5}, {"gateway": "x"}]}}}}})");
    db.insert(kId2, "old", R"({"name": "old"})");
    db.insertState(kId2, R"({"state": 3, "networkResults": [{"cniVersion": "0.4.0",
        "ips": [{"version": "4", "address": "10.88.0.5/16", "gateway": "10.88.0.1"}]}]})");
    auto addresses = [&](const std::string& id) {
        std::vector<std::string> got;
        for (const IpAddress& a : read("podman", id).recordedAddresses) got.push_back(a.str());
        return got;
    };
    EXPECT_EQ(addresses(kId), (std::vector<std::string>{"198.18.61.4", "fd00:61::4"}));
    EXPECT_EQ(addresses(kId2), (std::vector<std::string>{"10.88.0.5"}));
}

// A container created and not started has no network status; a state that is not JSON
// keeps what the configuration said.
TEST_F(ContainerMetadataTest, PodmanStateWithoutAddresses) {
    tmp.mkdirs("podman");
    test::PodmanSqlite db(podmanSqlite());
    db.insert(kId, "created", R"({"name": "created"})");
    db.insert(kId2, "broken", R"({"name": "broken"})");
    db.insertState(kId2, "{");
    Container c = read("podman", kId);
    EXPECT_EQ(c.name, "created");
    EXPECT_TRUE(c.recordedAddresses.empty());
    EXPECT_EQ(c.metadataError, "");
    c = read("podman", kId2);
    EXPECT_EQ(c.name, "broken");
    EXPECT_TRUE(c.recordedAddresses.empty());
    EXPECT_EQ(c.metadataError, podmanSqlite() + ": not JSON");
}

TEST_F(ContainerMetadataTest, UnknownRuntimeReadsNothing) {
    writeDocker(R"({"Name": "/api"})");
    expectEmpty(read("rkt"));
}

// ---------------------------------------------------------------- scan

uint64_t inodeOf(const fs::path& path) {
    struct stat st {};
    EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
    return st.st_ino;
}

TEST(ContainerScanTest, FindsEveryFormAndSkipsTheRest) {
    TempDir cg;
    TempDir state;
    RuntimeRoots roots{(state.path() / "docker").string(), (state.path() / "containerd").string(),
                       (state.path() / "storage").string(), (state.path() / "podman").string()};
    state.write("docker/containers/" + kId + "/config.v2.json",
                R"({"Name": "/api", "Config": {"Labels": {"app": "api"}}})");

    const fs::path dockerDir = cg.mkdirs("system.slice/docker-" + kId + ".scope");
    cg.mkdirs("system.slice/docker-" + kId + ".scope/nested/deeper");
    cg.mkdirs("system.slice/sshd.service");
    const fs::path podDir = cg.mkdirs(kPodSlice + "/cri-containerd-" + kId2 + ".scope");
    cg.mkdirs(kPodSlice + "/crio-conmon-" + kId + ".scope");
    cg.mkdirs(kUserSlice + "/libpod-conmon-" + kId2 + ".scope");
    const fs::path podmanDir = cg.mkdirs(kUserSlice + "/libpod-" + kId2 + ".scope");
    cg.write("system.slice/cgroup.procs", "");  // files are not cgroups
    // A symlink to a container's cgroup is not followed.
    fs::create_directory_symlink(dockerDir, cg.path() / ("docker-" + kId + ".scope"));

    std::vector<Container> found = scanContainers(cg.path().string(), roots);
    ASSERT_EQ(found.size(), 3u);
    // Sorted by cgroup path: kubepods.slice < system.slice < user.slice.
    EXPECT_EQ(found[0].runtime, "containerd");
    EXPECT_EQ(found[0].id, kId2);
    EXPECT_EQ(found[0].cgroupPath, podDir.string());
    EXPECT_EQ(found[0].cgroupId, inodeOf(podDir));
    EXPECT_EQ(found[0].metadataError, roots.containerdState +
                                          "/io.containerd.runtime.v2.task/k8s.io/" + kId2 +
                                          "/config.json: No such file or directory");

    EXPECT_EQ(found[1].runtime, "docker");
    EXPECT_EQ(found[1].id, kId);
    EXPECT_EQ(found[1].name, "api");
    EXPECT_EQ(found[1].labels.at("app"), "api");
    EXPECT_EQ(found[1].cgroupPath, dockerDir.string());
    EXPECT_EQ(found[1].cgroupId, inodeOf(dockerDir));
    EXPECT_EQ(found[1].metadataError, "");

    EXPECT_EQ(found[2].runtime, "podman");
    EXPECT_EQ(found[2].cgroupPath, podmanDir.string());
    EXPECT_EQ(found[2].cgroupId, inodeOf(podmanDir));
}

TEST(ContainerScanTest, DepthIsBounded) {
    TempDir cg;
    std::string shallow;
    for (int i = 0; i < 10; ++i) shallow += "d" + std::to_string(i) + "/";
    cg.mkdirs(shallow + "docker/" + kId);  // depth 12: found
    std::string deep;
    for (int i = 0; i < 11; ++i) deep += "e" + std::to_string(i) + "/";
    cg.mkdirs(deep + "docker/" + kId2);  // depth 13: beyond the bound
    std::vector<Container> found = scanContainers(cg.path().string(), {});
    ASSERT_EQ(found.size(), 1u);
    EXPECT_EQ(found[0].id, kId);
}

TEST(ContainerScanTest, EmptyRootIsEmptyAndAMissingRootIsAnError) {
    TempDir cg;
    EXPECT_TRUE(scanContainers(cg.path().string(), {}).empty());
    // "Nothing found" would make the agent forget every container.
    EXPECT_THROW(scanContainers("/nonexistent/palisade/cgroup", {}), std::system_error);
}

TEST(ContainerScanTest, AScanCutShortByEmfileIsAnErrorNotAnEmptyTree) {
    TempDir cg;
    cg.mkdirs("system.slice/docker-" + kId + ".scope");
    rlimit before{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
    const int lowest = dup(0);  // the next descriptor open() would return
    ASSERT_GE(lowest, 0);
    close(lowest);
    // No descriptor left for the root, then none for the directory below it.
    for (int spare : {0, 1}) {
        rlimit tight = before;
        tight.rlim_cur = static_cast<rlim_t>(lowest + spare);
        ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
        bool threw = false;
        try {
            scanContainers(cg.path().string(), {});
        } catch (const std::system_error& e) {
            threw = e.code() == std::errc::too_many_files_open;
        }
        setrlimit(RLIMIT_NOFILE, &before);
        EXPECT_TRUE(threw) << "descriptors to spare: " << spare;
    }
    EXPECT_EQ(scanContainers(cg.path().string(), {}).size(), 1u) << "with descriptors, found";
}

TEST(CgroupIdTest, IsTheInodeAndThrowsWithThePath) {
    TempDir dir;
    EXPECT_EQ(cgroupIdOf(dir.path().string()), inodeOf(dir.path()));
    const std::string missing = (dir.path() / "gone").string();
    try {
        cgroupIdOf(missing);
        FAIL() << "no exception";
    } catch (const std::system_error& e) {
        EXPECT_EQ(e.code(), std::errc::no_such_file_or_directory);
        EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
    }
}

// ---------------------------------------------------------------- cgroup2 mount

struct MountCase {
    const char* label;
    std::string mountinfo;
    std::string expected;
};

void PrintTo(const MountCase& c, std::ostream* os) { *os << c.label; }

class Cgroup2MountTest : public ::testing::TestWithParam<MountCase> {};

TEST_P(Cgroup2MountTest, Finds) {
    TempDir dir;
    dir.write("mountinfo", GetParam().mountinfo);
    EXPECT_EQ(findCgroup2Mount((dir.path() / "mountinfo").string()), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Mountinfo, Cgroup2MountTest,
    ::testing::Values(
        MountCase{"unified",
                  "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                  "25 22 0:22 / /proc rw,nosuid shared:12 - proc proc rw\n"
                  "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - "
                  "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
                  "/sys/fs/cgroup"},
        MountCase{"hybrid",
                  "30 24 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755\n"
                  "31 30 0:27 / /sys/fs/cgroup/systemd rw,relatime shared:10 - cgroup cgroup "
                  "rw,xattr,name=systemd\n"
                  "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
                  "/sys/fs/cgroup/unified"},
        MountCase{"v1 only",
                  "31 30 0:27 / /sys/fs/cgroup/memory rw,relatime shared:10 - cgroup cgroup "
                  "rw,memory\n",
                  ""},
        MountCase{"empty", "", ""},
        MountCase{"octal escapes", "50 22 0:40 / /mnt/my\\040cgroup\\134x rw - cgroup2 none rw\n",
                  "/mnt/my cgroup\\x"},
        MountCase{"whole hierarchy preferred over a subtree",
                  "60 22 0:26 /kubepods /host/sub rw - cgroup2 cgroup2 rw\n"
                  "61 22 0:26 / /host/cgroup rw - cgroup2 cgroup2 rw\n",
                  "/host/cgroup"},
        MountCase{"subtree when it is all there is",
                  "60 22 0:26 /kubepods /host/sub rw - cgroup2 cgroup2 rw\n", "/host/sub"},
        MountCase{"malformed lines are skipped",
                  "garbage\n1 2 3 4 5 6\n1 2 3 / /x rw -\n"
                  "70 22 0:26 / /sys/fs/cgroup rw master:3 shared:9 - cgroup2 cgroup2 rw\n",
                  "/sys/fs/cgroup"}));

TEST(Cgroup2MountFileTest, MissingFileIsEmpty) {
    EXPECT_EQ(findCgroup2Mount("/nonexistent/palisade/mountinfo"), "");
}

// ---------------------------------------------------------------- selectors

struct SelectorCase {
    const char* label;
    Selector selector;
    bool matches;
};

void PrintTo(const SelectorCase& c, std::ostream* os) { *os << c.label; }

Selector sel(std::function<void(Selector&)> fill) {
    Selector s;
    fill(s);
    return s;
}

Container apiContainer() {
    Container c;
    c.id = kId;
    c.runtime = "containerd";
    c.name = "api";
    c.k8sNamespace = "prod";
    c.pod = "api-7d9f";
    // Joined to its pod, whose labels these are (selector.cpp: unknown until then).
    c.podUid = "5b9f0c4e-7d9f-4c55-9a0e-0123456789ab";
    c.labels = {{"app", "api"}, {"tier", "web"}};
    return c;
}

class SelectorTest : public ::testing::TestWithParam<SelectorCase> {};

TEST_P(SelectorTest, Matches) {
    EXPECT_EQ(selectorMatches(GetParam().selector, apiContainer()), GetParam().matches);
}

INSTANTIATE_TEST_SUITE_P(
    Fields, SelectorTest,
    ::testing::Values(
        SelectorCase{"empty selects nothing", Selector{}, false},
        SelectorCase{"name exact", sel([](Selector& s) { s.name = "api"; }), true},
        SelectorCase{"name glob", sel([](Selector& s) { s.name = "ap*"; }), true},
        SelectorCase{"name class", sel([](Selector& s) { s.name = "[a-b]p?"; }), true},
        SelectorCase{"name mismatch", sel([](Selector& s) { s.name = "db"; }), false},
        SelectorCase{"name is not a prefix", sel([](Selector& s) { s.name = "ap"; }), false},
        SelectorCase{"id prefix", sel([](Selector& s) { s.id = "3f2a"; }), true},
        SelectorCase{"id prefix glob", sel([](Selector& s) { s.id = "3f2a*"; }), true},
        SelectorCase{"id full", sel([](Selector& s) { s.id = kId; }), true},
        SelectorCase{"id glob inside", sel([](Selector& s) { s.id = "3f?a9"; }), true},
        SelectorCase{"id mismatch", sel([](Selector& s) { s.id = "3f2b"; }), false},
        SelectorCase{"id not a suffix", sel([](Selector& s) { s.id = "b3c4"; }), false},
        SelectorCase{"runtime", sel([](Selector& s) { s.runtime = "containerd"; }), true},
        SelectorCase{"runtime mismatch", sel([](Selector& s) { s.runtime = "docker"; }), false},
        SelectorCase{"namespace", sel([](Selector& s) { s.namespace_ = "pr*"; }), true},
        SelectorCase{"namespace mismatch", sel([](Selector& s) { s.namespace_ = "dev"; }), false},
        SelectorCase{"pod", sel([](Selector& s) { s.pod = "api-*"; }), true},
        SelectorCase{"pod mismatch", sel([](Selector& s) { s.pod = "web-*"; }), false},
        SelectorCase{"label", sel([](Selector& s) {
                         s.labels = {{"app", "api"}};
                     }),
                     true},
        SelectorCase{"label glob", sel([](Selector& s) {
                         s.labels = {{"tier", "w*"}};
                     }),
                     true},
        SelectorCase{"labels all", sel([](Selector& s) {
                         s.labels = {{"app", "api"}, {"tier", "web"}};
                     }),
                     true},
        SelectorCase{"label value mismatch", sel([](Selector& s) {
                         s.labels = {{"app", "db"}};
                     }),
                     false},
        SelectorCase{"label missing", sel([](Selector& s) {
                         s.labels = {{"team", "*"}};
                     }),
                     false},
        SelectorCase{"one label of two mismatches", sel([](Selector& s) {
                         s.labels = {{"app", "api"}, {"tier", "db"}};
                     }),
                     false},
        SelectorCase{"every field", sel([](Selector& s) {
                         s.name = "api";
                         s.id = "3f2a";
                         s.runtime = "containerd";
                         s.namespace_ = "prod";
                         s.pod = "api-*";
                         s.labels = {{"app", "api"}};
                     }),
                     true},
        SelectorCase{"every field but one", sel([](Selector& s) {
                         s.name = "api";
                         s.id = "3f2a";
                         s.runtime = "containerd";
                         s.namespace_ = "dev";
                         s.pod = "api-*";
                     }),
                     false}));

TEST(SelectorEmptyFieldsTest, MissingMetadataOnlyMatchesGlobsThatAllowEmpty) {
    Container c;
    c.id = kId;
    c.runtime = "docker";
    EXPECT_FALSE(selectorMatches(sel([](Selector& s) { s.name = "api"; }), c));
    EXPECT_FALSE(selectorMatches(sel([](Selector& s) { s.namespace_ = "prod"; }), c));
    EXPECT_FALSE(selectorMatches(sel([](Selector& s) { s.labels = {{"app", "*"}}; }), c));
    EXPECT_TRUE(selectorMatches(sel([](Selector& s) { s.name = "*"; }), c));
    EXPECT_TRUE(selectorMatches(sel([](Selector& s) { s.id = "3f2a"; }), c));
}

}  // namespace
}  // namespace palisade

namespace palisade {
namespace {

LabelRequirement req(const std::string& key, LabelRequirement::Operator op,
                     std::vector<std::string> values = {}) {
    return {key, op, std::move(values)};
}

// Kubernetes' label selector semantics (apimachinery's labels.Selector).
TEST(LabelSelectorTest, MatchLabelsAndEveryOperator) {
    using Op = LabelRequirement::Operator;
    const std::map<std::string, std::string> labels = {{"app", "api"}, {"tier", "web"}};
    auto matches = [&](LabelSelector s) { return labelSelectorMatches(s, labels); };
    EXPECT_TRUE(matches({}));
    EXPECT_TRUE(matches({{{"app", "api"}}, {}}));
    EXPECT_FALSE(matches({{{"app", "ap*"}}, {}})) << "matchLabels values are exact, not globs";
    EXPECT_FALSE(matches({{{"app", "api"}, {"team", "a"}}, {}}));
    EXPECT_TRUE(matches({{}, {req("tier", Op::In, {"db", "web"})}}));
    EXPECT_FALSE(matches({{}, {req("tier", Op::In, {"db"})}}));
    EXPECT_FALSE(matches({{}, {req("team", Op::In, {"a"})}}));
    EXPECT_TRUE(matches({{}, {req("tier", Op::NotIn, {"db"})}}));
    EXPECT_FALSE(matches({{}, {req("tier", Op::NotIn, {"web"})}}));
    EXPECT_TRUE(matches({{}, {req("team", Op::NotIn, {"a"})}})) << "absent is not in the list";
    EXPECT_TRUE(matches({{}, {req("app", Op::Exists)}}));
    EXPECT_FALSE(matches({{}, {req("team", Op::Exists)}}));
    EXPECT_TRUE(matches({{}, {req("team", Op::DoesNotExist)}}));
    EXPECT_FALSE(matches({{}, {req("app", Op::DoesNotExist)}}));
    EXPECT_FALSE(matches({{{"app", "api"}}, {req("app", Op::DoesNotExist)}})) << "all must hold";
}

TEST(LabelSelectorTest, NamespaceSelectorNeedsTheNamespaceLabels) {
    Container c = apiContainer();
    Selector s;
    s.namespaceSelector = LabelSelector{{{"team", "a"}}, {}};
    EXPECT_FALSE(selectorMatches(s, c)) << "namespace labels unknown: no API server";
    c.namespaceLabels = std::map<std::string, std::string>{{"team", "b"}};
    EXPECT_FALSE(selectorMatches(s, c));
    c.namespaceLabels = std::map<std::string, std::string>{{"team", "a"}};
    EXPECT_TRUE(selectorMatches(s, c));
    s.namespaceSelector = LabelSelector{};
    EXPECT_TRUE(selectorMatches(s, c)) << "{} selects every namespace known";
    c.namespaceLabels.reset();
    EXPECT_FALSE(selectorMatches(s, c));
}

// A Kubernetes container not joined to its pod has unknown labels, not none: a NotIn or
// DoesNotExist selector must not take it (review of issue 20 item 3).
TEST(LabelSelectorTest, UnknownPodLabelsMatchNoLabelSelector) {
    using Op = LabelRequirement::Operator;
    Container c;
    c.id = std::string(64, 'a');
    c.runtime = "containerd";
    c.k8sNamespace = "shop";
    c.pod = "web-1";
    Selector notRestricted;
    notRestricted.labelSelector.matchExpressions = {req("tier", Op::NotIn, {"restricted"})};
    Selector noTier;
    noTier.labelSelector.matchExpressions = {req("tier", Op::DoesNotExist)};
    Selector byGlob;
    byGlob.labels = {{"tier", "*"}};
    for (const Selector* s : {&notRestricted, &noTier, &byGlob}) {
        EXPECT_FALSE(selectorMatches(*s, c)) << "labels unknown: not joined to its pod";
    }
    c.podUid = "0b0b0b0b-1111-2222-3333-444444444444";
    EXPECT_TRUE(selectorMatches(notRestricted, c)) << "joined, and the pod has no tier";
    EXPECT_TRUE(selectorMatches(noTier, c));
    c.labels = {{"tier", "restricted"}};
    EXPECT_FALSE(selectorMatches(notRestricted, c));
    // Docker's and podman's labels are always known.
    Container d;
    d.runtime = "docker";
    EXPECT_TRUE(selectorMatches(noTier, d));
}

TEST(LabelSelectorTest, PodSelectorFieldsAreAndedWithTheRest) {
    Selector s;
    s.labelSelector.matchLabels = {{"app", "api"}};
    EXPECT_FALSE(s.empty());
    EXPECT_TRUE(selectorMatches(s, apiContainer()));
    s.name = "db";
    EXPECT_FALSE(selectorMatches(s, apiContainer()));
}

}  // namespace
}  // namespace palisade
