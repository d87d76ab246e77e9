// Requests on the control socket come from any local client: every malformed
// one gets an error reply, none throws, and a reply with bytes that are not
// UTF-8 (a cgroup named with arbitrary bytes) is still sent.
#include "control/control_request.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "control/control_server.h"
#include "temp_dir.h"
#include "util/fd.h"

namespace palisade {
namespace {

using testing::TempDir;

TEST(ControlRequest, ParsesEachCommand) {
    auto status = std::get<ControlRequest>(parseControlRequest(R"({"cmd":"status"})"));
    EXPECT_EQ(status.cmd, ControlRequest::Command::Status);
    auto events = std::get<ControlRequest>(
        parseControlRequest(R"({"cmd":"events","follow":true,"filter":"event.action == x"})"));
    EXPECT_EQ(events.cmd, ControlRequest::Command::Events);
    EXPECT_TRUE(events.follow);
    EXPECT_EQ(events.filter, "event.action == x");
    auto await = std::get<ControlRequest>(
        parseControlRequest(R"({"cmd":"await-container","cgroupId":18446744073709551615,)"
                            R"("id":"abc"})"));
    EXPECT_EQ(await.cmd, ControlRequest::Command::AwaitContainer);
    EXPECT_EQ(await.cgroupId, 18446744073709551615u);
    EXPECT_EQ(await.containerId, "abc");
    auto anonymous = std::get<ControlRequest>(
        parseControlRequest(R"({"cmd":"await-container","cgroupId":4242})"));
    EXPECT_EQ(anonymous.cgroupId, 4242u);
    EXPECT_EQ(anonymous.containerId, "");
}

TEST(ControlRequest, AwaitContainerNeedsAPositiveCgroupIdAndAShortId) {
    const std::string longId(kMaxContainerIdBytes + 1, 'a');
    for (const std::string& line : std::vector<std::string>{
             R"({"cmd":"await-container"})", R"({"cmd":"await-container","cgroupId":0})",
             R"({"cmd":"await-container","cgroupId":-5})",
             R"({"cmd":"await-container","cgroupId":1.5})",
             R"({"cmd":"await-container","cgroupId":"42"})",
             R"({"cmd":"await-container","cgroupId":18446744073709551616})",
             R"({"cmd":"await-container","cgroupId":42,"id":7})",
             R"({"cmd":"await-container","cgroupId":42,"id":")" + longId + "\"}"}) {
        std::variant<ControlRequest, std::string> result;
        ASSERT_NO_THROW(result = parseControlRequest(line)) << line;
        ASSERT_TRUE(std::holds_alternative<std::string>(result)) << line;
        EXPECT_FALSE(std::get<std::string>(result).empty()) << line;
    }
    EXPECT_TRUE(std::holds_alternative<ControlRequest>(
        parseControlRequest(R"({"cmd":"await-container","cgroupId":42,"id":")" +
                            std::string(kMaxContainerIdBytes, 'a') + "\"}")));
}

TEST(ControlRequest, BadRequestsAreErrorsNotExceptions) {
    for (const char* line :
         {R"({"cmd":1})", R"({"cmd":null})", R"({"cmd":["status"]})", R"({"cmd":"reboot"})",
          R"({})", R"([])", R"("status")", "", "{", "\xff\xfe", R"({"cmd":"events","follow":1})",
          R"({"cmd":"events","filter":{}})", R"({"cmd":"events","filter":7})"}) {
        std::variant<ControlRequest, std::string> result;
        ASSERT_NO_THROW(result = parseControlRequest(line)) << line;
        ASSERT_TRUE(std::holds_alternative<std::string>(result)) << line;
        EXPECT_FALSE(std::get<std::string>(result).empty()) << line;
    }
}

// One request, one reply line, over a real socket.
std::string ask(ControlServer& server, const std::string& path, const std::string& request) {
    const Fd client(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    if (connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "";
    const std::string line = request + "\n";
    if (write(client.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
        return "";
    }
    std::string reply;
    for (int i = 0; i < 40 && reply.find('\n') == std::string::npos; i++) {
        std::vector<pollfd> fds;
        server.fillPollFds(fds);
        poll(fds.data(), fds.size(), 50);
        server.handle(fds);
        char buf[4096];
        const ssize_t n = recv(client.get(), buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0) reply.append(buf, static_cast<size_t>(n));
    }
    return reply;
}

TEST(ControlServer, AnswersBadInputWithAnErrorAndKeepsServing) {
    TempDir dir;
    const std::string path = dir / "palisade.sock";
    ControlServer server(path, {[] {
                                    return nlohmann::json{{"generation", 3}};
                                },
                                [] {
                                    return nlohmann::json::array({{{"name", "c\xff\xfe"}}});
                                },
                                {}});
    EXPECT_NE(ask(server, path, R"({"cmd":1})").find("\"error\""), std::string::npos);
    EXPECT_NE(ask(server, path, "not json").find("\"error\""), std::string::npos);
    const std::string containers = ask(server, path, R"({"cmd":"containers"})");
    EXPECT_NE(containers.find("\"name\":\"c"), std::string::npos)
        << "invalid UTF-8 replaced, not thrown: " << containers;
    EXPECT_EQ(ask(server, path, R"({"cmd":"status"})"), "{\"generation\":3}\n");
}

TEST(ControlServer, AwaitContainerIsAnsweredByItsHandler) {
    TempDir dir;
    const std::string path = dir / "palisade.sock";
    ControlServer server(
        path, {[] { return nlohmann::json::object(); }, [] { return nlohmann::json::array(); },
               [](const ControlRequest& req) {
                   return nlohmann::json{{"cgroupId", req.cgroupId}, {"id", req.containerId}};
               }});
    EXPECT_EQ(ask(server, path, R"({"cmd":"await-container","cgroupId":7,"id":"x"})"),
              "{\"cgroupId\":7,\"id\":\"x\"}\n");
    EXPECT_NE(ask(server, path, R"({"cmd":"await-container","cgroupId":0})").find("\"error\""),
              std::string::npos);
}

// `palisade oci-hook` gives up at its timeout and closes, possibly while the agent
// works on its answer: writing that answer must not SIGPIPE the agent (nor this test).
TEST(ControlServer, AClientThatLeftWhileItsAnswerWasMadeIsForgotten) {
    TempDir dir;
    const std::string path = dir / "palisade.sock";
    Fd client(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ControlServer server(path, {[] {
                                    return nlohmann::json{{"generation", 3}};
                                },
                                [] { return nlohmann::json::array(); },
                                [&](const ControlRequest&) {
                                    client.reset();  // the hook's timeout passes
                                    return nlohmann::json{{"status", "enforced"}};
                                }});
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string line = R"({"cmd":"await-container","cgroupId":7})"
                             "\n";
    ASSERT_EQ(write(client.get(), line.data(), line.size()), static_cast<ssize_t>(line.size()));
    for (int i = 0; i < 10 && client; i++) {
        std::vector<pollfd> fds;
        server.fillPollFds(fds);
        poll(fds.data(), fds.size(), 20);
        server.handle(fds);
    }
    EXPECT_FALSE(client) << "the request was not handled";
    EXPECT_EQ(ask(server, path, R"({"cmd":"status"})"), "{\"generation\":3}\n");
}

TEST(ControlServer, AHandlerThatThrowsIsAnErrorReply) {
    TempDir dir;
    const std::string path = dir / "palisade.sock";
    ControlServer server(path, {[]() -> nlohmann::json { throw std::runtime_error("boom"); },
                                [] { return nlohmann::json::array(); },
                                {}});
    EXPECT_NE(ask(server, path, R"({"cmd":"status"})").find("boom"), std::string::npos);
    EXPECT_EQ(ask(server, path, R"({"cmd":"containers"})"), "[]\n");
}

}  // namespace
}  // namespace palisade
