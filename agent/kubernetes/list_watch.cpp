#include "kubernetes/list_watch.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <fstream>
#include <random>
#include <sstream>

#include "kubernetes/api_objects.h"
#include "util/errno_text.h"

namespace palisade {

namespace {

using namespace std::chrono_literals;

// A node's pods (110 by default) and a cluster's namespaces are far below
// these; more is not an answer to trust, and not worth the memory.
constexpr size_t kMaxListBytes = 64 << 20;
constexpr size_t kMaxEventBytes = 4 << 20;
constexpr size_t kMaxErrorBody = 64 << 10;
// The server ends each watch after this long (client-go picks 5-10 min); the
// read timeout is a little longer, so that a silent dead connection is noticed.
constexpr int kWatchSeconds = 300;
constexpr auto kReadTimeout = std::chrono::seconds(kWatchSeconds + 30);
constexpr auto kConnectTimeout = 5s;
// Between failed attempts: doubling from the first to the last, each drawn at
// random from its upper half, so that a cluster's agents do not retry in step.
constexpr auto kFirstDelay = 200ms;
constexpr auto kMaxDelay = 30s;

// "%3D" and the like: what the query's values may hold (names, "=").
std::string escape(const std::string& text) {
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            out += hex;
        }
    }
    return out;
}

// The token file as it is now: projected tokens are rotated by the kubelet.
std::optional<std::string> readToken(const std::string& path, std::string& error) {
    std::ifstream in(path);
    if (!in) {
        error = "kubernetes.tokenFile " + path + ": " + errnoText(errno);
        return std::nullopt;
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string token = text.str();
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    if (token.empty()) {
        error = "kubernetes.tokenFile " + path + " is empty";
        return std::nullopt;
    }
    return token;
}

std::string transferProblem(httplib::Error error, const ApiServer& server) {
    if (error == httplib::Error::SSLServerVerification) {
        return "the API server's certificate is not signed by kubernetes.caFile " + server.caFile +
               " or does not name " + server.host;
    }
    return "https://" + server.host + ":" + std::to_string(server.port) + ": " +
           httplib::to_string(error);
}

// "HTTP 401: Unauthorized" with the Status's message when the body is one.
std::string httpProblem(int status, const std::string& body) {
    std::string text = "HTTP " + std::to_string(status);
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (auto st = parseStatus(parsed); st && !st->message.empty()) return text + ": " + st->message;
    return text;
}

}  // namespace

ListWatch::ListWatch(ApiServer server, std::string path, std::string selector, Handlers handlers)
    : server_(std::move(server)),
      path_(std::move(path)),
      selector_(std::move(selector)),
      handlers_(std::move(handlers)),
      delay_(kFirstDelay) {}

ListWatch::~ListWatch() { stop(); }

void ListWatch::start() {
    thread_ = std::thread([this] { run(); });
}

void ListWatch::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        if (client_) client_->stop();
    }
    changed_.notify_all();
    if (thread_.joinable()) thread_.join();
}

ListWatchStatus ListWatch::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

bool ListWatch::waitListed(std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return status_.lists > 0 || status_.errors > 0; });
    return status_.lists > 0;
}

bool ListWatch::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

std::string ListWatch::query(const std::string& extra) const {
    std::string q = selector_.empty() ? "" : "fieldSelector=" + escape(selector_);
    if (!extra.empty()) q += (q.empty() ? "" : "&") + extra;
    return q.empty() ? path_ : path_ + "?" + q;
}

ListWatch::Answer ListWatch::get(const std::string& target,
                                 const std::function<bool(const char*, size_t)>& onData) {
    Answer answer;
    auto token = readToken(server_.tokenFile, answer.error);
    if (!token) return answer;
    if (std::ifstream ca(server_.caFile); !ca) {
        answer.error = "kubernetes.caFile " + server_.caFile + ": " + errnoText(errno);
        return answer;
    }
    httplib::SSLClient client(server_.host, server_.port);
    client.set_ca_cert_path(server_.caFile.c_str());
    client.enable_server_certificate_verification(true);
    client.set_connection_timeout(kConnectTimeout);
    client.set_read_timeout(kReadTimeout);
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return answer;
        client_ = &client;
    }
    const httplib::Headers headers{{"Authorization", "Bearer " + *token},
                                   {"Accept", "application/json"}};
    auto result = client.Get(
        target, headers,
        [&](const httplib::Response& response) {
            answer.status = response.status;
            if (answer.status == 200) synced(false);
            return true;
        },
        [&](const char* data, size_t size) {
            if (answer.status == 200) return onData(data, size);
            if (answer.body.size() + size > kMaxErrorBody) return false;
            answer.body.append(data, size);
            return true;
        });
    {
        std::lock_guard lock(mutex_);
        client_ = nullptr;
    }
    if (!result && result.error() != httplib::Error::Canceled) {
        answer.error = transferProblem(result.error(), server_);
    }
    return answer;
}

void ListWatch::failed(const std::string& why) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    ++status_.errors;
    status_.connected = false;
    // Logged when it changes, not at every retry.
    if (why != status_.error) spdlog::warn("kubernetes {}: {}", path_, why);
    status_.error = why;
    changed_.notify_all();
}

void ListWatch::synced(bool listed) {
    std::lock_guard lock(mutex_);
    if (!status_.connected) {
        spdlog::info("kubernetes {}: {} https://{}:{}", path_,
                     status_.error.empty() ? "connected to" : "connected again to", server_.host,
                     server_.port);
    }
    status_.connected = true;
    status_.error.clear();
    status_.lastSync = std::chrono::system_clock::now();
    if (listed) {
        ++status_.lists;
        delay_ = kFirstDelay;
    }
    changed_.notify_all();
}

bool ListWatch::backoff() {
    static thread_local std::mt19937 random{std::random_device{}()};
    std::unique_lock lock(mutex_);
    std::uniform_int_distribution<int64_t> pick(delay_.count() / 2, delay_.count());
    const auto sleep = std::chrono::milliseconds(pick(random));
    delay_ = std::min<std::chrono::milliseconds>(delay_ * 2, kMaxDelay);
    return !changed_.wait_for(lock, sleep, [&] { return stopping_; });
}

bool ListWatch::list(std::string& resourceVersion) {
    std::string body;
    bool tooBig = false;
    Answer answer = get(query(""), [&](const char* data, size_t size) {
        tooBig = body.size() + size > kMaxListBytes;
        if (!tooBig) body.append(data, size);
        return !tooBig;
    });
    std::string error;
    std::optional<ObjectList> parsed;
    if (tooBig) {
        error = "the list is over " + std::to_string(kMaxListBytes >> 20) + " MiB";
    } else if (!answer.error.empty()) {
        error = answer.error;
    } else if (answer.status != 200) {
        error = "list: " + httpProblem(answer.status, answer.body);
    } else {
        parsed = parseList(body, error);
    }
    if (!parsed) {
        failed(error);
        return false;
    }
    if (std::string why = handlers_.replace(parsed->items); !why.empty()) failed(why);
    resourceVersion = parsed->resourceVersion;
    synced(true);
    return true;
}

bool ListWatch::takeEvent(const std::string& line, std::string& resourceVersion, Next& next,
                          std::string& problem) {
    auto event = parseWatchEvent(line, problem);
    if (!event) return false;
    if (event->type == "ERROR") {
        auto status = parseStatus(event->object);
        if (status && status->code == 410) {
            next = Next::List;
            return false;
        }
        problem = "watch: " + (status ? status->message : event->object.dump());
        return false;
    }
    if (event->type != "BOOKMARK") {
        if (std::string why = handlers_.apply(event->type, event->object); !why.empty()) {
            failed(why);
        }
    }
    if (std::string version = resourceVersionOf(event->object); !version.empty()) {
        resourceVersion = version;
    }
    std::lock_guard lock(mutex_);
    status_.lastSync = std::chrono::system_clock::now();
    delay_ = kFirstDelay;
    return true;
}

ListWatch::Next ListWatch::watch(std::string& resourceVersion) {
    Next next = Next::Watch;
    std::string buffer, problem;
    Answer answer = get(
        query("watch=1&allowWatchBookmarks=true&timeoutSeconds=" + std::to_string(kWatchSeconds) +
              "&resourceVersion=" + escape(resourceVersion)),
        [&](const char* data, size_t size) {
            buffer.append(data, size);
            size_t start = 0;
            for (size_t end; (end = buffer.find('\n', start)) != std::string::npos;
                 start = end + 1) {
                const std::string line = buffer.substr(start, end - start);
                if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
                if (!takeEvent(line, resourceVersion, next, problem)) return false;
            }
            buffer.erase(0, start);
            if (buffer.size() > kMaxEventBytes) {
                problem = "a watch event over " + std::to_string(kMaxEventBytes >> 20) + " MiB";
                return false;
            }
            return !stopping();
        });
    if (next == Next::List || answer.status == 410) {
        spdlog::info("kubernetes {}: resourceVersion {} is gone (410): listing again", path_,
                     resourceVersion);
        return Next::List;
    }
    if (!problem.empty()) {
        failed(problem);
    } else if (!answer.error.empty()) {
        failed("watch: " + answer.error);
    } else if (answer.status != 200 && answer.status != 0) {
        failed("watch: " + httpProblem(answer.status, answer.body));
    }
    return Next::Watch;  // the stream ended (the server's timeout): resume
}

void ListWatch::run() {
    std::string resourceVersion;
    Next next = Next::List;
    while (!stopping()) {
        if (next == Next::List && !list(resourceVersion)) {
            if (!backoff()) return;
            continue;
        }
        next = watch(resourceVersion);
        if (!backoff()) return;
    }
}

}  // namespace palisade
