// daemon/status.h: what `palisade status` and `palisade containers` say about
// containers whose addresses or metadata could not be read (loud, never silence).
#include "daemon/status.h"

#include <gtest/gtest.h>

namespace palisade {
namespace {

TEST(Status, UnreadableAddressesAreAFallbackAndPerContainer) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    std::vector<Container> containers(2);
    for (uint64_t i = 0; i < 2; i++) {
        containers[i].id = std::string(1, static_cast<char>('a' + i));
        containers[i].cgroupPath = root + "/" + containers[i].id;
        containers[i].cgroupId = 7 + i;
    }
    LearnedAddresses addresses;
    IpAddress ip;
    ip.bytes = {198, 18, 0, 2};
    addresses.byContainer[7] = {ip};
    addresses.unreadable[8] = "/proc/42 is hidden from the agent";
    const StatusInputs in{config, root,       features,   1,  {}, {},
                          files,  notInForce, containers, {}, 0,  addresses};

    const nlohmann::json status = statusJson(in);
    ASSERT_TRUE(status["fallbacks"].contains("interContainer")) << status["fallbacks"].dump();
    EXPECT_EQ(status["fallbacks"]["interContainer"],
              "the addresses of 1 container(s) could not be read (cgroup id 8: /proc/42 is hidden "
              "from the agent): inter-container rules do not know them");
    EXPECT_NE(statusText(status).find("interContainer: the addresses of 1"), std::string::npos);

    const nlohmann::json list = containersJson(in);
    EXPECT_EQ(list[0]["addresses"], nlohmann::json::array({"198.18.0.2"}));
    EXPECT_FALSE(list[0].contains("addressError"));
    EXPECT_EQ(list[1]["addresses"], nlohmann::json::array());
    EXPECT_EQ(list[1]["addressError"], "/proc/42 is hidden from the agent");

    addresses.unreadable.clear();
    EXPECT_FALSE(statusJson(in)["fallbacks"].contains("interContainer"));
}

// The kernel and the variant of each hook it made the agent choose (docs/kernels.md).
TEST(Status, NamesTheKernelAndTheVariantsInForce) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    const std::vector<Container> containers;
    const LearnedAddresses addresses;
    nlohmann::json features = {{"tracing-ancestor-cgroup", false},
                               {"skb-current-task", false},
                               {"hostNetnsCookie", false}};
    const StatusInputs old{config, root,       features,   1,  {}, {},
                           files,  notInForce, containers, {}, 0,  addresses};
    const nlohmann::json status = statusJson(old);
    EXPECT_FALSE(status["kernel"].get<std::string>().empty());
    EXPECT_NE(statusText(status).find("kernel:        " + status["kernel"].get<std::string>()),
              std::string::npos)
        << statusText(status);
    EXPECT_NE(statusText(status).find("tracing-ancestor-cgroup(missing)"), std::string::npos);
    for (const char* f : {"cgroupAncestors", "packetEventTask", "hostLoopback"}) {
        EXPECT_TRUE(status["fallbacks"].contains(f)) << f << ": " << status["fallbacks"].dump();
    }

    features = {
        {"tracing-ancestor-cgroup", true}, {"skb-current-task", true}, {"hostNetnsCookie", true}};
    const StatusInputs now{config, root,       features,   1,  {}, {},
                           files,  notInForce, containers, {}, 0,  addresses};
    for (const char* f : {"cgroupAncestors", "packetEventTask", "hostLoopback"}) {
        EXPECT_FALSE(statusJson(now)["fallbacks"].contains(f)) << f;
    }
}

// Exec policy and packet sockets are refused through BPF LSM (EPERM) where the agent attached
// its programs, else through the tracepoints (SIGKILL), which status names as fallbacks.
TEST(Status, NamesHowExecsAndPacketSocketsAreRefused) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    const std::vector<Container> containers;
    const LearnedAddresses addresses;
    const std::vector<AttachedProgram> lsm = {{"pal_exec_lsm", "lsm/bprm_creds_from_file"},
                                              {"pal_socket_lsm", "lsm/socket_create"}};
    const StatusInputs withLsm{config, root,       features,   1,  lsm, {},
                               files,  notInForce, containers, {}, 0,   addresses};
    nlohmann::json status = statusJson(withLsm);
    EXPECT_EQ(status["packetSockets"],
              nlohmann::json({{"mechanism", "lsm/socket_create"}, {"deny", "eperm"}}));
    EXPECT_EQ(status["exec"]["deny"], "eperm");
    EXPECT_FALSE(status["fallbacks"].contains("packetSockets"));
    EXPECT_FALSE(status["fallbacks"].contains("execSetuid"));
    EXPECT_NE(statusText(status).find("packet socket: lsm/socket_create (deny: eperm)"),
              std::string::npos)
        << statusText(status);

    const std::vector<AttachedProgram> tracepoints = {{"pal_exec_tp", "tp_btf/sched_process_exec"},
                                                      {"pal_sys_enter", "tp_btf/sys_enter"}};
    const StatusInputs without{config, root,       features,   1,  tracepoints, {},
                               files,  notInForce, containers, {}, 0,           addresses};
    status = statusJson(without);
    EXPECT_EQ(status["packetSockets"]["deny"], "sigkill");
    EXPECT_EQ(status["fallbacks"]["packetSockets"],
              "tp_btf/sys_enter (SIGKILL): BPF LSM not in use; io_uring's IORING_OP_SOCKET not "
              "seen");
    EXPECT_TRUE(status["fallbacks"].contains("execSetuid"));
}

// docs/reference/enforcement.md#capacity: what the maps could not take is said, never silent.
TEST(Status, NamesPolicyFilesNotInForceAndAddressesLeftOut) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    PolicySet set;
    set.files["/p/a.yaml"] = {"ab12", {"a"}};
    const std::map<std::string, std::string> notInForce = {
        {"/p/b.yaml", "pal_lpm4 needs 1500 entries, has room for 1000"}};
    const std::vector<Container> containers;
    const LearnedAddresses addresses;
    StatusInputs in{config, root,       features,   3,  {}, {},
                    set,    notInForce, containers, {}, 0,  addresses};
    in.addressProblem = "pal_addr4 is full: 3 of 1027 addresses left out (limits.addresses)";

    const nlohmann::json status = statusJson(in);
    ASSERT_EQ(status["policies"].size(), 1u);
    EXPECT_EQ(status["policies"][0]["name"], "a");
    EXPECT_EQ(status["policies"][0]["generation"], 3);
    EXPECT_EQ(status["policiesNotInForce"]["/p/b.yaml"], notInForce.at("/p/b.yaml"));
    EXPECT_EQ(status["fallbacks"]["interContainerCapacity"],
              in.addressProblem + ": inter-container rules do not know those addresses");
    EXPECT_NE(statusText(status).find("  NOT IN FORCE  /p/b.yaml: pal_lpm4 needs 1500"),
              std::string::npos)
        << statusText(status);
}

TEST(Status, UnreadableMetadataIsPerContainer) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    std::vector<Container> containers(2);
    containers[0].id = std::string(64, 'a');
    containers[0].name = "api";
    containers[1].id = std::string(64, 'b');
    containers[1].metadataError = "/var/lib/docker/containers/bbbb/config.v2.json: over 4 MiB";
    for (uint64_t i = 0; i < 2; i++) {
        containers[i].runtime = "docker";
        containers[i].cgroupPath = root + "/system.slice/docker-" + containers[i].id + ".scope";
        containers[i].cgroupId = 7 + i;
    }
    const LearnedAddresses addresses;
    const StatusInputs in{config, root,       features,   1,  {}, {},
                          files,  notInForce, containers, {}, 0,  addresses};

    const nlohmann::json list = containersJson(in);
    EXPECT_FALSE(list[0].contains("metadataError"));
    EXPECT_EQ(list[1]["metadataError"], containers[1].metadataError);

    const std::string text = containersText(list);
    EXPECT_NE(text.find("\n               metadata unreadable: "
                        "/var/lib/docker/containers/bbbb/config.v2.json: over 4 MiB\n"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("metadata unreadable"), text.rfind("metadata unreadable")) << text;
}

// docs/reference/cli.md: `palisade containers --json` shows what a container learned from DNS
// for toFQDNs (docs/reference/enforcement.md#fqdn) and how many addresses it was refused;
// nothing for a container with neither.
TEST(Status, ContainersShowTheAddressesLearnedFromDns) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    std::vector<Container> containers(4);
    for (uint64_t i = 0; i < containers.size(); i++) {
        containers[i].id = std::string(64, static_cast<char>('a' + i));
        containers[i].runtime = "docker";
        containers[i].cgroupPath = root + "/" + containers[i].id;
        containers[i].cgroupId = 7 + i;
    }
    const LearnedAddresses addresses;

    FqdnSweep sweep;
    FqdnLearned v4;
    v4.cgroupId = 7;
    v4.address.bytes = {198, 51, 100, 7};
    v4.selector = 41;
    v4.secondsLeft = 299;
    FqdnLearned v6;
    v6.cgroupId = 7;
    v6.address.family = 6;
    v6.address.bytes = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    v6.selector = 99;  // compiled by no generation this agent knows
    v6.secondsLeft = 4;
    FqdnLearned elsewhere = v4;
    elsewhere.cgroupId = 1000;  // no container of the list
    sweep.live = {v4, v6, elsewhere};
    sweep.refused = {{7, 2}, {8, 0}, {9, 5}};
    const std::map<uint64_t, std::string> names = {{41, "api.stripe.com"},
                                                   {42, "*.s3.amazonaws.com"}};

    StatusInputs in{config, root,       features,   1,  {}, {},
                    files,  notInForce, containers, {}, 0,  addresses};
    in.fqdn = &sweep;
    in.fqdnNames = &names;
    nlohmann::json list = containersJson(in);
    ASSERT_EQ(list.size(), 4u);
    EXPECT_EQ(list[0]["fqdn"], nlohmann::json::parse(R"({"learned": [
                  {"name": "api.stripe.com", "address": "198.51.100.7", "secondsLeft": 299},
                  {"name": "selector 99", "address": "2001:db8::1", "secondsLeft": 4}],
                  "refused": 2})"));
    EXPECT_FALSE(list[1].contains("fqdn")) << "no addresses, none refused: " << list[1].dump();
    EXPECT_EQ(list[2]["fqdn"], nlohmann::json::parse(R"({"learned": [], "refused": 5})"));
    EXPECT_FALSE(list[3].contains("fqdn")) << list[3].dump();

    // Without the names (no generation compiled yet), every selector is named by its id.
    in.fqdnNames = nullptr;
    list = containersJson(in);
    EXPECT_EQ(list[0]["fqdn"]["learned"][0]["name"], "selector 41");
    // Before the first sweep: no key at all.
    in.fqdn = nullptr;
    for (const auto& c : containersJson(in)) EXPECT_FALSE(c.contains("fqdn")) << c.dump();
}

// docs/reference/cli.md: status's counters.dns, the programs' DNS answer counters.
TEST(Status, CountsDnsAnswersAndAddresses) {
    const Config config;
    const std::string root = "/sys/fs/cgroup";
    const nlohmann::json features = nlohmann::json::object();
    const PolicySet files;
    const std::map<std::string, std::string> notInForce;
    const std::vector<Container> containers;
    const LearnedAddresses addresses;
    VerdictCounters counters;
    counters.dnsAnswers = 12;
    counters.dnsIgnored = 3;
    counters.dnsLearned = 20;
    counters.dnsRefused = 1;
    counters.dnsUnnoted = 4;
    const StatusInputs in{config, root,       features,   1,  {}, counters,
                          files,  notInForce, containers, {}, 0,  addresses};
    EXPECT_EQ(statusJson(in)["counters"]["dns"], nlohmann::json({{"answersLearnedFrom", 12},
                                                                 {"answersIgnored", 3},
                                                                 {"addressesLearned", 20},
                                                                 {"addressesRefused", 1},
                                                                 {"queriesNotNoted", 4}}));
}

}  // namespace
}  // namespace palisade
