// Where events go: the size-rotated file sink, and the bound on what a
// subscriber that does not read may hold of the agent's memory.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "control/control_server.h"
#include "events/sinks.h"
#include "temp_dir.h"

namespace palisade {
namespace {

namespace fs = std::filesystem;

using testing::TempDir;

std::vector<std::string> linesOf(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

std::string numbered(int i) {
    std::string s = "event " + std::to_string(i);
    s.resize(99, '.');  // 100 bytes with the newline
    return s;
}

TEST(FileSink, RotatesBySizeKeepingMaxFiles) {
    TempDir dir;
    const std::string path = dir / "sub/events.jsonl";  // the directory is created
    {
        FileSink sink(path, 1000, 3);
        for (int i = 0; i < 50; i++) sink.write(Event(numbered(i)));
        sink.flush();
    }
    for (const std::string& p : {path, path + ".1", path + ".2"}) {
        ASSERT_TRUE(fs::exists(p)) << p;
        EXPECT_LE(fs::file_size(p), 1000u) << p;
    }
    EXPECT_FALSE(fs::exists(path + ".3")) << "maxFiles counts the live file";
    auto live = linesOf(path), older = linesOf(path + ".1"), oldest = linesOf(path + ".2");
    ASSERT_EQ(live.size(), 10u);
    EXPECT_EQ(live.back(), numbered(49));
    EXPECT_EQ(older.back(), numbered(39));
    EXPECT_EQ(oldest.front(), numbered(20));
}

TEST(FileSink, AppendsToAnExistingFileAndCountsItsSize) {
    TempDir dir;
    const std::string path = dir / "events.jsonl";
    {
        FileSink sink(path, 1000, 2);
        for (int i = 0; i < 9; i++) sink.write(Event(numbered(i)));
    }
    FileSink again(path, 1000, 2);
    again.write(Event(numbered(9)));   // fills the file to 1000 bytes
    again.write(Event(numbered(10)));  // goes to a new one
    again.flush();
    EXPECT_EQ(linesOf(path + ".1").size(), 10u);
    EXPECT_EQ(linesOf(path), std::vector<std::string>{numbered(10)});
}

// One turn of the agent loop's work for the control server.
void serve(ControlServer& server) {
    std::vector<pollfd> fds;
    server.fillPollFds(fds);
    poll(fds.data(), fds.size(), 50);
    server.handle(fds);
}

TEST(ControlServer, ASubscriberThatDoesNotReadCostsBoundedMemory) {
    TempDir dir;
    const std::string path = dir / "palisade.sock";
    ControlServer server(
        path,
        {[] { return nlohmann::json::object(); }, [] { return nlohmann::json::array(); }, {}});
    int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    ASSERT_EQ(connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const std::string request = R"({"cmd":"events","follow":true})"
                                "\n";
    ASSERT_EQ(write(client, request.data(), request.size()), static_cast<ssize_t>(request.size()));
    for (int i = 0; i < 40 && server.subscribers() == 0; i++) serve(server);
    ASSERT_EQ(server.subscribers(), 1u);

    // Three times what a subscriber may hold, and the client never reads.
    const Event event(std::string(1023, 'x'));
    const size_t lines = 3 * ControlServer::kMaxQueuedBytes / (event.line().size() + 1);
    for (size_t i = 0; i < lines; i++) server.publish(event);

    const uint64_t dropped = server.droppedForSlowSubscribers();
    EXPECT_GT(dropped, 0u);
    // Kept: the queue (at most kMaxQueuedBytes) and what the socket buffers took.
    int sndbuf = 0, rcvbuf = 0;
    socklen_t len = sizeof(int);
    getsockopt(client, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
    len = sizeof(int);
    getsockopt(client, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len);
    const size_t kept = (lines - dropped) * (event.line().size() + 1);
    EXPECT_LE(kept, ControlServer::kMaxQueuedBytes + static_cast<size_t>(sndbuf + rcvbuf));
    close(client);
    for (int i = 0; i < 5 && server.subscribers() > 0; i++) serve(server);
    EXPECT_EQ(server.subscribers(), 0u) << "a subscriber that left is forgotten";
}

}  // namespace
}  // namespace palisade
