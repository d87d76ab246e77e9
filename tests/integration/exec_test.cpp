// Privilege-raising execs (docs/reference/enforcement.md#exec-policy) on the real kernel:
// set-user-ID, set-group-ID and file-capability copies of a probe that prints its credentials
// (tests/helpers/exec_probe.c), exec'd by an unprivileged uid from inside a container, through the
// agent binary.
//
// Which mechanism refuses is the kernel's to decide: BPF LSM (execve fails with
// EPERM) where it is active, else the tracepoint fallback (SIGKILL before the
// new image runs). The tests assert the behaviour of the mechanism the agent
// reports; PALISADE_EXPECT_BPF_LSM=1 or 0 (set by vmtests/, which boots its
// kernel with and without BPF LSM) makes them fail if the agent picked the other.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "agent_process.h"
#include "harness.h"

namespace fs = std::filesystem;

namespace palisade::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr uid_t kOwner = 2000;   // owns the set-user-ID copy
constexpr uid_t kCaller = 2001;  // runs everything, also gid 2001
constexpr gid_t kGroup = 3000;   // group of the set-group-ID copy
constexpr int kCapNetRaw = 13;
constexpr auto kEventTimeout = 10s;  // TCG in vmtests/ is slow

constexpr const char* kLsm = "lsm/bprm_creds_from_file";
constexpr const char* kTracepoint = "tp_btf/sched_process_exec";

// RAII: a world-readable directory of copies of the probe with special bits.
class SpecialFiles {
  public:
    SpecialFiles() {
        char tmpl[] = "/tmp/palisade-exec-XXXXXX";
        dir_ = mkdtemp(tmpl);
        fs::permissions(dir_, fs::perms(0755));
    }
    ~SpecialFiles() {
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    SpecialFiles(const SpecialFiles&) = delete;
    SpecialFiles& operator=(const SpecialFiles&) = delete;

    // <dir>/<name>, owned by uid:gid with `mode` (chown first: it clears set-id bits).
    std::string copy(const std::string& name, uid_t uid, gid_t gid, mode_t mode) {
        fs::path p = dir_ / name;
        fs::copy_file(PALISADE_EXEC_PROBE, p);
        if (chown(p.c_str(), uid, gid) != 0 || chmod(p.c_str(), mode) != 0) {
            throw std::runtime_error("chown/chmod " + p.string() + ": " + strerror(errno));
        }
        return p;
    }

  private:
    fs::path dir_;
};

// Gives `path` the file capability `cap` (permitted and effective); 0 or errno.
int setFileCap(const std::string& path, int cap) {
    vfs_cap_data data{};
    data.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE;
    data.data[0].permitted = 1u << cap;
    return setxattr(path.c_str(), "security.capability", &data, XATTR_CAPS_SZ_2, 0) == 0 ? 0
                                                                                         : errno;
}

// What the probe prints when it runs as kCaller with these effective ids.
std::string credentials(uid_t euid, gid_t egid, const char* capprm = "0") {
    std::ostringstream s;
    s << "ruid=" << kCaller << " euid=" << euid << " rgid=" << kCaller << " egid=" << egid
      << " capprm=" << capprm << "\n";
    return s.str();
}

struct ExecOutcome {
    int status = -1;     // wait status of the exec'ing child
    int execErrno = 0;   // errno of a failed execv (0: the exec succeeded)
    int setupErrno = 0;  // errno of a failed setresuid/prctl before it
    std::string output;

    bool ran() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0 && !execErrno; }
    bool killedBy(int sig) const { return WIFSIGNALED(status) && WTERMSIG(status) == sig; }
    std::string describe() const {
        std::ostringstream s;
        s << "status " << status << ", exec errno " << execErrno << " (" << strerror(execErrno)
          << "), setup errno " << setupErrno << ", output [" << output << "]";
        return s.str();
    }
};

struct ExecRequest {
    std::string path;
    bool noNewPrivs = false;
};

// In the calling process (a harness child): fork, drop to kCaller, optionally
// set no_new_privs, exec; then report how it went, serialized.
std::string execAsCallerHere(const ExecRequest& r) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return "pipe failed";
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        dup2(out[1], STDERR_FILENO);
        char* argv[] = {const_cast<char*>(r.path.c_str()), nullptr};
        int code[2] = {0, 0};  // {setup errno, exec errno}
        if (setgroups(0, nullptr) != 0 || setresgid(kCaller, kCaller, kCaller) != 0 ||
            setresuid(kCaller, kCaller, kCaller) != 0 ||
            (r.noNewPrivs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)) {
            code[0] = errno;
        } else {
            execv(r.path.c_str(), argv);
            code[1] = errno;
        }
        (void)!write(err[1], code, sizeof(code));
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    std::string output;
    char buf[4096];
    for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) output.append(buf, n);
    int code[2] = {0, 0};
    (void)!read(err[0], code, sizeof(code));
    int status = -1;
    waitpid(pid, &status, 0);
    close(out[0]);
    close(err[0]);
    return std::to_string(status) + " " + std::to_string(code[1]) + " " + std::to_string(code[0]) +
           "\n" + output;
}

ExecOutcome parseOutcome(const std::string& text) {
    ExecOutcome o;
    std::istringstream in(text);
    in >> o.status >> o.execErrno >> o.setupErrno;
    auto nl = text.find('\n');
    if (nl != std::string::npos) o.output = text.substr(nl + 1);
    return o;
}

std::string policy(const std::string& name, const std::string& selector, const std::string& setuid,
                   const std::string& mode = "enforce") {
    return "apiVersion: palisade.dev/v1\nkind: ContainerPolicy\nmetadata: {name: " + name +
           "}\nspec:\n  selector: {name: " + selector + "}\n  mode: " + mode +
           "\n  egress: []\n  exec: {setuid: " + setuid + "}\n";
}

class Exec : public ::testing::TestWithParam<Privileges> {
  protected:
    void SetUp() override {
        PALISADE_REQUIRE_ROOT();
        sandbox_ = std::make_unique<Sandbox>();
        app_ = &sandbox_->addContainer("app");
        agent_ = std::make_unique<AgentProcess>(*sandbox_);
        agent_->privileges() = GetParam();
        agent_->describe(*app_);
        files_ = std::make_unique<SpecialFiles>();
        setuidProbe_ = files_->copy("setuid", kOwner, kOwner, 04755);
    }
    void TearDown() override {
        agent_.reset();
        sandbox_.reset();
        files_.reset();
    }

    void startWith(const std::string& setuid, const std::string& mode = "enforce") {
        agent_->writePolicy("app.yaml", policy("app-exec", "app", setuid, mode));
        agent_->start();
        mechanism_ = execStatus()["mechanism"];
        ASSERT_TRUE(mechanism_ == kLsm || mechanism_ == kTracepoint) << mechanism_;
        // vmtests/ knows which its guest kernel offers; elsewhere either is right.
        if (const char* expect = std::getenv("PALISADE_EXPECT_BPF_LSM")) {
            ASSERT_EQ(mechanism_, std::string(expect) == "1" ? kLsm : kTracepoint)
                << "PALISADE_EXPECT_BPF_LSM=" << expect << "; agent log:\n"
                << agent_->stderrText();
        }
    }

    json execStatus() { return agent_->status()["exec"]; }

    ExecOutcome execIn(Container& c, const ExecRequest& r, const std::string& cgroup = "") {
        return parseOutcome(c.inContainerStr([r] { return execAsCallerHere(r); }, 10s, cgroup));
    }
    ExecOutcome execAt(const Placement& where, const ExecRequest& r) {
        return parseOutcome(callIn(where, [r] { return execAsCallerHere(r); }));
    }

    json execEventFor(const std::string& path) {
        return agent_->waitForEvent(
            [&](const json& e) {
                return e["event"]["action"] == "exec" && e["process"]["executable"] == path;
            },
            kEventTimeout);
    }
    size_t execEventCount() {
        size_t n = 0;
        for (const auto& e : agent_->events()) n += e["event"]["action"] == "exec";
        return n;
    }

    void expectCommonFields(const json& e, const std::string& path) {
        EXPECT_EQ(e["palisade"]["reason"], "setuid-exec");
        EXPECT_EQ(e["palisade"]["mechanism"], mechanism_);
        EXPECT_EQ(e["process"]["executable"], path);
        EXPECT_EQ(e["file"]["path"], path);
        EXPECT_GT(e["process"]["pid"].get<int>(), 0);
        EXPECT_EQ(e["process"]["user"]["id"], std::to_string(kCaller));
        EXPECT_EQ(e["container"]["name"], "app");
        EXPECT_EQ(e["container"]["id"], app_->id);
        EXPECT_EQ(e["rule"]["name"], "app-exec");
    }

    std::unique_ptr<Sandbox> sandbox_;
    Container* app_ = nullptr;
    std::unique_ptr<AgentProcess> agent_;
    std::unique_ptr<SpecialFiles> files_;
    std::string setuidProbe_;
    std::string mechanism_;
};

TEST_P(Exec, FlagReportsASetuidExecWithOldAndNewIds) {
    ASSERT_NO_FATAL_FAILURE(startWith("flag"));
    ExecOutcome o = execIn(*app_, {setuidProbe_});
    ASSERT_TRUE(o.ran()) << o.describe();
    EXPECT_EQ(o.output, credentials(kOwner, kCaller)) << "the set-user-ID bit took effect";

    json e = execEventFor(setuidProbe_);
    ASSERT_FALSE(e.is_null()) << "no exec event; agent log:\n" << agent_->stderrText();
    expectCommonFields(e, setuidProbe_);
    EXPECT_EQ(e["event"]["outcome"], "unknown");
    EXPECT_EQ(e["palisade"]["verdict"], "flag");
    EXPECT_FALSE(e["palisade"].contains("enforcement"));
    EXPECT_EQ(e["palisade"]["exec"]["privileges"], json::array({"setuid"}));
    EXPECT_EQ(e["palisade"]["exec"]["raised"], true);
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["old"], std::to_string(kCaller));
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kOwner));
    EXPECT_EQ(e["palisade"]["exec"]["egid"]["old"], std::to_string(kCaller));
    EXPECT_EQ(e["palisade"]["exec"]["egid"]["new"], std::to_string(kCaller));
    EXPECT_EQ(e["file"]["mode"], "4755");
    EXPECT_EQ(e["file"]["uid"], std::to_string(kOwner));
    EXPECT_FALSE(e["palisade"]["exec"].contains("old_assumed"));
}

TEST_P(Exec, FlagReportsASetgidExec) {
    std::string setgidProbe = files_->copy("setgid", 0, kGroup, 02755);
    ASSERT_NO_FATAL_FAILURE(startWith("flag"));
    ExecOutcome o = execIn(*app_, {setgidProbe});
    ASSERT_TRUE(o.ran()) << o.describe();
    EXPECT_EQ(o.output, credentials(kCaller, kGroup));

    json e = execEventFor(setgidProbe);
    ASSERT_FALSE(e.is_null());
    expectCommonFields(e, setgidProbe);
    EXPECT_EQ(e["palisade"]["exec"]["privileges"], json::array({"setgid"}));
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kCaller));
    EXPECT_EQ(e["palisade"]["exec"]["egid"]["old"], std::to_string(kCaller));
    EXPECT_EQ(e["palisade"]["exec"]["egid"]["new"], std::to_string(kGroup));
    EXPECT_EQ(e["file"]["mode"], "2755");
    EXPECT_EQ(e["file"]["gid"], std::to_string(kGroup));
}

TEST_P(Exec, FlagReportsFileCapabilities) {
    std::string capProbe = files_->copy("fcap", 0, 0, 0755);
    if (int err = setFileCap(capProbe, kCapNetRaw)) {
        GTEST_SKIP() << "no security.capability xattr on " << capProbe << ": " << strerror(err);
    }
    ASSERT_NO_FATAL_FAILURE(startWith("flag"));
    ExecOutcome o = execIn(*app_, {capProbe});
    ASSERT_TRUE(o.ran()) << o.describe();
    EXPECT_EQ(o.output, credentials(kCaller, kCaller, "2000")) << "CAP_NET_RAW permitted";

    json e = execEventFor(capProbe);
    ASSERT_FALSE(e.is_null());
    expectCommonFields(e, capProbe);
    EXPECT_EQ(e["palisade"]["exec"]["privileges"], json::array({"capabilities"}));
    EXPECT_EQ(e["palisade"]["exec"]["capabilities"]["gained"], json::array({"CAP_NET_RAW"}));
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kCaller));
    EXPECT_EQ(e["file"]["mode"], "0755");
}

TEST_P(Exec, DenyFailsWithEpermUnderBpfLsm) {
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    if (mechanism_ != kLsm) GTEST_SKIP() << "BPF LSM is not active on this kernel";
    ExecOutcome o = execIn(*app_, {setuidProbe_});
    EXPECT_EQ(o.execErrno, EPERM) << o.describe();
    EXPECT_EQ(o.output, "") << o.describe();

    json e = execEventFor(setuidProbe_);
    ASSERT_FALSE(e.is_null());
    expectCommonFields(e, setuidProbe_);
    EXPECT_EQ(e["event"]["outcome"], "denied");
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
    EXPECT_EQ(e["palisade"]["enforcement"], "eperm");
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kOwner));
    EXPECT_EQ(execStatus()["deny"], "eperm");
}

TEST_P(Exec, DenyKillsBeforeTheNewImageRunsUnderTheFallback) {
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    if (mechanism_ != kTracepoint) GTEST_SKIP() << "BPF LSM is active: no fallback in use";
    ExecOutcome o = execIn(*app_, {setuidProbe_});
    EXPECT_EQ(o.execErrno, 0) << "the exec itself succeeds: " << o.describe();
    EXPECT_TRUE(o.killedBy(SIGKILL)) << o.describe();
    EXPECT_EQ(o.output, "") << "the new image must not run: " << o.describe();

    json e = execEventFor(setuidProbe_);
    ASSERT_FALSE(e.is_null());
    expectCommonFields(e, setuidProbe_);
    EXPECT_EQ(e["event"]["outcome"], "denied");
    EXPECT_EQ(e["palisade"]["verdict"], "deny");
    EXPECT_EQ(e["palisade"]["enforcement"], "sigkill");
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kOwner));
    EXPECT_EQ(execStatus()["deny"], "sigkill");
}

TEST_P(Exec, DenyAppliesInANestedCgroup) {
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    std::string nested = app_->nestedCgroup("init.scope/worker");
    ExecOutcome o = execIn(*app_, {setuidProbe_}, nested);
    EXPECT_EQ(o.output, "") << o.describe();
    EXPECT_TRUE(mechanism_ == kLsm ? o.execErrno == EPERM : o.killedBy(SIGKILL)) << o.describe();
}

TEST_P(Exec, AuditModeReportsWhatDenyWouldRefuse) {
    ASSERT_NO_FATAL_FAILURE(startWith("deny", "audit"));
    ExecOutcome o = execIn(*app_, {setuidProbe_});
    ASSERT_TRUE(o.ran()) << o.describe();
    EXPECT_EQ(o.output, credentials(kOwner, kCaller));
    json e = execEventFor(setuidProbe_);
    ASSERT_FALSE(e.is_null());
    EXPECT_EQ(e["palisade"]["verdict"], "audit");
    EXPECT_FALSE(e["palisade"].contains("enforcement"));
}

// no_new_privs makes the kernel ignore the set-user-ID bit: nothing is raised,
// so nothing is refused, but the attempt is reported.
TEST_P(Exec, NoNewPrivsAttemptIsReportedNotRefused) {
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    ExecOutcome o = execIn(*app_, {setuidProbe_, true});
    ASSERT_TRUE(o.ran()) << o.describe();
    EXPECT_EQ(o.output, credentials(kCaller, kCaller)) << "no_new_privs kept the caller's uid";

    json e = execEventFor(setuidProbe_);
    ASSERT_FALSE(e.is_null());
    expectCommonFields(e, setuidProbe_);
    EXPECT_EQ(e["palisade"]["verdict"], "flag");
    EXPECT_EQ(e["palisade"]["exec"]["raised"], false);
    EXPECT_EQ(e["palisade"]["exec"]["no_new_privs"], true);
    EXPECT_EQ(e["palisade"]["exec"]["privileges"], json::array({"setuid"}));
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["old"], std::to_string(kCaller));
    EXPECT_EQ(e["palisade"]["exec"]["euid"]["new"], std::to_string(kCaller));
}

// The programs are node-wide: they must leave alone every task that is not in a
// container whose policy says otherwise.
TEST_P(Exec, OtherContainersAndTheHostAreUntouched) {
    Container& other = sandbox_->addContainer("other");
    Container& stranger = sandbox_->addContainer("stranger");  // no policy selects it
    agent_->describe(other);
    agent_->describe(stranger);
    agent_->writePolicy("other.yaml", policy("other-exec", "other", "allow"));
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    const std::string raised = credentials(kOwner, kCaller);

    ExecOutcome inOther = execIn(other, {setuidProbe_});
    EXPECT_TRUE(inOther.ran() && inOther.output == raised) << inOther.describe();
    ExecOutcome inStranger = execIn(stranger, {setuidProbe_});
    EXPECT_TRUE(inStranger.ran() && inStranger.output == raised) << inStranger.describe();
    // A host service in the sandbox's cgroup tree, and the test process's own cgroup.
    std::string service = sandbox_->cgroups().create("system.slice/sshd.service");
    ExecOutcome inService = execAt({"", service}, {setuidProbe_});
    EXPECT_TRUE(inService.ran() && inService.output == raised) << inService.describe();
    ExecOutcome onHost = execAt({}, {setuidProbe_});
    EXPECT_TRUE(onHost.ran() && onHost.output == raised) << onHost.describe();

    // The policy is in force: the same exec in `app` is refused, and its event
    // is the first exec event (events arrive in order).
    ExecOutcome inApp = execIn(*app_, {setuidProbe_});
    EXPECT_FALSE(inApp.ran()) << inApp.describe();
    ASSERT_FALSE(execEventFor(setuidProbe_).is_null());
    EXPECT_EQ(execEventCount(), 1u);
}

// An exec that changes nothing is no event: a set-user-ID file the caller owns
// and a plain binary.
TEST_P(Exec, ExecsThatRaiseNothingAreNotReported) {
    std::string ownProbe = files_->copy("own", kCaller, kCaller, 04755);
    std::string plainProbe = files_->copy("plain", 0, 0, 0755);
    ASSERT_NO_FATAL_FAILURE(startWith("deny"));
    for (const auto& path : {ownProbe, plainProbe}) {
        ExecOutcome o = execIn(*app_, {path});
        EXPECT_TRUE(o.ran() && o.output == credentials(kCaller, kCaller)) << o.describe();
    }
    ExecOutcome refused = execIn(*app_, {setuidProbe_});
    EXPECT_FALSE(refused.ran()) << refused.describe();
    ASSERT_FALSE(execEventFor(setuidProbe_).is_null());
    EXPECT_EQ(execEventCount(), 1u);
}

TEST_P(Exec, StatusNamesTheMechanism) {
    ASSERT_NO_FATAL_FAILURE(startWith("flag"));
    RunResult r = run({PALISADE_BINARY, "status", "--json", "--config", agent_->configPath()});
    ASSERT_TRUE(r.ok()) << r.output;
    json s = json::parse(r.output);
    bool lsm = s["features"]["bpf-lsm"].get<bool>();
    EXPECT_EQ(s["exec"]["mechanism"], lsm ? kLsm : kTracepoint);
    EXPECT_EQ(s["fallbacks"].contains("execSetuid"), !lsm);
    bool attached = false;
    for (const auto& p : s["programs"]) attached |= p["hook"] == mechanism_;
    EXPECT_TRUE(attached) << s["programs"].dump();
}

// Also with nothing but the capabilities the agent ships with.
INSTANTIATE_TEST_SUITE_P(Privileges, Exec, ::testing::Values(Privileges::Root, Privileges::Shipped),
                         privilegesName);

}  // namespace
}  // namespace palisade::test
