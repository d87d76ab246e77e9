// The agent's control socket (docs/reference/cli.md): a Unix stream socket, mode 0600, that
// answers one JSON request per connection with JSON lines.
//
//   {"cmd":"status"}                        -> one JSON object
//   {"cmd":"containers"}                    -> one JSON array
//   {"cmd":"events","filter":"EXPR"}        -> the recent events that match, then EOF
//   {"cmd":"events","follow":true,...}      -> new matching events until the client leaves
//   {"cmd":"await-container","cgroupId":N}  -> one JSON object, once the container's policy
//                                              is in force (`palisade oci-hook`)
//
// Everything runs on the agent's event loop thread: the server only reads and
// writes non-blocking sockets, and a subscriber that does not keep up loses
// events (counted) instead of stalling the pipeline or growing memory.
#pragma once

#include <poll.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/event_filter.h"
#include "events/event.h"
#include "util/fd.h"

namespace palisade {

struct ControlRequest;

class ControlServer {
  public:
    struct Handlers {
        std::function<nlohmann::json()> status;
        std::function<nlohmann::json()> containers;
        // Answers an await-container request (the handler puts the container in force
        // before it returns).
        std::function<nlohmann::json(const ControlRequest&)> awaitContainer;
    };

    // Creates the socket (and its directory), replacing a stale one. Throws
    // std::runtime_error with the path and errno text on failure.
    ControlServer(std::string path, Handlers handlers);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // The fds to poll this turn, and the work to do once poll() returned.
    void fillPollFds(std::vector<pollfd>& fds) const;
    void handle(const std::vector<pollfd>& fds);

    // Hands an event to every subscriber whose filter matches it.
    void publish(const Event& event);

    uint64_t droppedForSlowSubscribers() const { return dropped_; }
    size_t subscribers() const;

    // A subscriber's queue is cut off beyond this many bytes.
    static constexpr size_t kMaxQueuedBytes = 4 << 20;
    // How many recent events `events` without --follow replays.
    static constexpr size_t kRecentEvents = 1000;

  private:
    struct Client;
    void accept();
    void readRequest(Client& c);
    void answer(Client& c, const std::string& line);
    void startEvents(Client& c, const ControlRequest& req);
    void flush(Client& c);

    std::string path_;
    Handlers handlers_;
    Fd listen_;
    std::vector<std::unique_ptr<Client>> clients_;
    // Lines only: keeping each event's JSON tree cost more than making it (a
    // replay, which is rare, parses the lines it filters).
    std::deque<std::string> recent_;
    uint64_t dropped_ = 0;
};

}  // namespace palisade
