#include "api/server.h"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include <spdlog/spdlog.h>

#include "api/query.h"
#include "api/router.h"
#include "api/socket.h"

namespace enospcd::api {
namespace {

// Query parameters beyond this many are refused with a 414 before libmicrohttpd stores them: each takes room
// in the connection's memory pool, and a full pool left the request unanswered until the timeout.
constexpr size_t kMaxQueryParams = 64;

class FollowStream;

// One request's state, made by uri_logged() from the raw request target (before libmicrohttpd parses and
// unescapes it) and freed by completed_cb.
struct RequestContext {
  bool started = false;
  bool too_many_params = false;
  bool nul = false;  // %00 in the raw target: decoded, it would cut a value short
  size_t unsent = 0;  // bytes of this request's answer counted in the server's unsent total
  // A large answer built on the answers thread while the connection is suspended: `deferred` from the
  // suspension until the answer is queued, `built` once it is ready for the resumed connection, or
  // `follow` once a follow stream has its history loaded.
  bool deferred = false;
  bool was_deferred = false;  // counted in large_unfinished until the request completes
  std::optional<Response> built;
  std::shared_ptr<FollowStream> follow;
};

// MHD_OPTION_URI_LOG_CALLBACK: sees the request target as sent, before the arguments are parsed.
void* uri_logged(void*, const char* uri, MHD_Connection*) {
  auto* ctx = new RequestContext;
  if (uri == nullptr) return ctx;
  std::string_view target(uri);
  for (size_t i = 0; i + 2 < target.size(); i++)
    if (target[i] == '%' && target[i + 1] == '0' && target[i + 2] == '0') ctx->nul = true;
  size_t q = target.find('?');
  if (q != std::string_view::npos) {
    size_t params = 1 + static_cast<size_t>(std::count(target.begin() + static_cast<ptrdiff_t>(q), target.end(), '&'));
    if (params > kMaxQueryParams) {
      ctx->too_many_params = true;
      // The target lives in the connection's own read buffer, which libmicrohttpd parses the arguments from
      // right after this call: ending it at the '?' leaves nothing to parse.
      const_cast<char*>(uri)[q + 1] = '\0';
    }
  }
  return ctx;
}

struct Counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> denied{0};
  std::atomic<uint64_t> follow_dropped{0};
  std::atomic<uint64_t> follow_events{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> busy{0};
};

// Answers this small are served whatever the unsent total: status, health, metrics, a short page.
constexpr size_t kSmallResponse = size_t{64} << 10;

// Open connections of users other than root and the daemon's own, by uid.
struct ConnectionShares {
  std::mutex mu;
  std::unordered_map<uid_t, unsigned> by_uid;
  unsigned total = 0;
};

// What NOTIFY_CONNECTION keeps per connection (its socket context): the uid it was counted for.
struct CountedConnection {
  uid_t uid;
};

// One follow (NDJSON) response. Events arrive on the backend's thread through push(), wait in a bounded
// queue and leave through read(), which MHD calls on its worker thread when the socket can take more.
// With nothing to send the connection is suspended (no busy loop, no timeout) and push() resumes it.
class FollowStream {
 public:
  // `held` counts the bytes that all streams hold waiting for their clients; `held_limit` bounds it.
  FollowStream(void* owner, MHD_Connection* conn, int fd, size_t limit, Counters* counters, std::atomic<size_t>* held,
               size_t held_limit)
      : owner_(owner), conn_(conn), fd_(fd), limit_(limit), counters_(counters), held_(held), held_limit_(held_limit) {}
  ~FollowStream() { held_->fetch_sub(bytes_); }
  FollowStream(const FollowStream&) = delete;
  FollowStream& operator=(const FollowStream&) = delete;

  // The server that registered this stream (opaque here, as the server's type is private).
  void* owner_ptr() const { return owner_; }

  void set_subscription(std::unique_ptr<Subscription> sub) {
    std::lock_guard lk(mu_);
    sub_ = std::move(sub);
  }

  // Any thread; never blocks beyond this stream's short critical sections.
  void push(const nlohmann::json& event) {
    if (dead_.load(std::memory_order_relaxed)) return;
    std::optional<std::string> id = id_of(event);
    std::string line = dump_json(event);
    std::lock_guard lk(mu_);
    if (!alive_ || closing_ || overflowed_) return;
    if (id && history_ids_.count(*id)) return;
    if (queue_.size() >= limit_ || !hold_locked(line.size())) {
      // The client stopped reading. Drop it rather than buffer without bound or block the caller;
      // shutdown(2) makes MHD close the connection even while it waits for the socket to drain.
      overflowed_ = true;
      dead_.store(true, std::memory_order_relaxed);
      counters_->follow_dropped.fetch_add(1, std::memory_order_relaxed);
      ::shutdown(fd_, SHUT_RDWR);
      wake_locked();
      return;
    }
    queue_.push_back(Line{id, std::move(line)});
    counters_->follow_events.fetch_add(1, std::memory_order_relaxed);
    wake_locked();
  }

  // Events that happened before the stream started (since=...), oldest first. Those also delivered live
  // through push() in the meantime are sent only once. False when they do not fit in what all streams may hold.
  // `backend` hands them newest first, one at a time.
  bool load_history(Backend& backend, const EventQuery& q) {
    // Outside the lock: the backend may be publishing to this stream meanwhile.
    std::vector<Line> newest_first;
    size_t taken = 0;
    bool fits = true;
    backend.each_event(q, [&](const nlohmann::json& e) {
      if (!fits) return;
      Line l{id_of(e), dump_json(e)};
      fits = reserve(l.text.size());
      if (!fits) return;
      taken += l.text.size();
      newest_first.push_back(std::move(l));
    });
    if (!fits) {
      held_->fetch_sub(taken, std::memory_order_relaxed);
      return false;
    }
    std::lock_guard lk(mu_);
    bytes_ += taken;
    for (auto it = newest_first.rbegin(); it != newest_first.rend(); ++it) {
      Line& line = *it;
      if (line.id.has_value()) history_ids_.insert(std::move(line.id.value()));
      history_.push_back(std::move(line.text));
    }
    std::erase_if(queue_, [&](const Line& l) {
      if (!l.id || !history_ids_.count(*l.id)) return false;
      release_locked(l.text.size());
      return true;
    });
    return true;
  }

  // Keeps idle streams alive through proxies and lets MHD notice clients that went away.
  void keepalive() {
    std::lock_guard lk(mu_);
    if (!alive_ || closing_ || overflowed_) return;
    if (queue_.empty() && history_.empty() && pending_off_ >= pending_.size() && hold_locked(1)) {
      queue_.push_back(Line{std::nullopt, "\n"});
      wake_locked();
    }
  }

  // stop(): finish the response so that no connection stays suspended when MHD shuts down.
  void close_for_shutdown() {
    std::lock_guard lk(mu_);
    closing_ = true;
    wake_locked();
  }

  // MHD worker thread.
  ssize_t read(char* buf, size_t max) {
    std::lock_guard lk(mu_);
    if (overflowed_) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = 0;
    while (n < max) {
      if (pending_off_ >= pending_.size()) {
        if (!history_.empty()) {
          pending_ = std::move(history_.front());
          history_.pop_front();
        } else if (!queue_.empty()) {
          pending_ = std::move(queue_.front().text);
          queue_.pop_front();
        } else {
          break;
        }
        release_locked(pending_.size());
        pending_off_ = 0;
      }
      size_t k = std::min(max - n, pending_.size() - pending_off_);
      std::memcpy(buf + n, pending_.data() + pending_off_, k);
      n += k;
      pending_off_ += k;
    }
    if (n > 0) return static_cast<ssize_t>(n);
    if (closing_) return MHD_CONTENT_READER_END_OF_STREAM;
    suspended_ = true;
    MHD_suspend_connection(conn_);
    return 0;
  }

  // The response is being destroyed (MHD worker thread): no more MHD calls on this connection. Returns the
  // subscription so that the caller destroys it outside the lock.
  std::unique_ptr<Subscription> detach() {
    std::lock_guard lk(mu_);
    alive_ = false;
    suspended_ = false;
    dead_.store(true, std::memory_order_relaxed);
    return std::move(sub_);
  }

 private:
  struct Line {
    std::optional<std::string> id;
    std::string text;
  };

  // The event's "id" (a string of digits; a number from a backend that writes numbers), as a key.
  static std::optional<std::string> id_of(const nlohmann::json& event) {
    if (!event.is_object()) return std::nullopt;
    auto it = event.find("id");
    if (it == event.end()) return std::nullopt;
    if (it->is_string()) return it->get<std::string>();
    if (it->is_number_integer()) return it->dump();
    return std::nullopt;
  }

  // Counts `n` more bytes held for this stream's client; false (nothing counted) beyond what all may hold.
  bool hold_locked(size_t n) {
    if (!reserve(n)) return false;
    bytes_ += n;
    return true;
  }
  // Counts `n` more bytes in what all streams hold; false (nothing counted) beyond the limit.
  bool reserve(size_t n) {
    size_t now = held_->load(std::memory_order_relaxed);
    do {
      if (now + n > held_limit_) return false;
    } while (!held_->compare_exchange_weak(now, now + n, std::memory_order_relaxed));
    return true;
  }
  void release_locked(size_t n) {
    bytes_ -= n;
    held_->fetch_sub(n, std::memory_order_relaxed);
  }

  void wake_locked() {
    // MHD_resume_connection on a connection that is not suspended is undefined behaviour: track it.
    if (suspended_ && alive_) {
      suspended_ = false;
      MHD_resume_connection(conn_);
    }
  }

  void* const owner_;
  MHD_Connection* const conn_;
  const int fd_;
  const size_t limit_;
  Counters* const counters_;
  std::atomic<size_t>* const held_;
  const size_t held_limit_;
  size_t bytes_ = 0;  // of held_, this stream's (history_ and queue_); guarded by mu_
  std::atomic<bool> dead_{false};

  std::mutex mu_;
  std::unique_ptr<Subscription> sub_;
  std::deque<std::string> history_;
  std::unordered_set<std::string> history_ids_;
  std::deque<Line> queue_;
  std::string pending_;
  size_t pending_off_ = 0;
  bool suspended_ = false;
  bool alive_ = true;
  bool closing_ = false;
  bool overflowed_ = false;
};

MHD_Result params_iterator(void* cls, MHD_ValueKind, const char* key, const char* value) {
  auto* params = static_cast<Params*>(cls);
  params->emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
  return MHD_YES;
}

MHD_Result queue(MHD_Connection* conn, const Response& resp) {
  MHD_Response* r = MHD_create_response_from_buffer(resp.body.size(), const_cast<char*>(resp.body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type.c_str());
  for (const auto& [k, v] : resp.headers) MHD_add_response_header(r, k.c_str(), v.c_str());
  MHD_Result ret = MHD_queue_response(conn, static_cast<unsigned>(resp.status), r);
  MHD_destroy_response(r);
  return ret;
}

int connection_fd(MHD_Connection* conn) {
  const MHD_ConnectionInfo* ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci != nullptr ? ci->connect_fd : -1;
}

std::atomic<bool> g_logging_start{false};

void mhd_log(void*, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  std::string_view msg(buf);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == '\r')) msg.remove_suffix(1);
  // Per-connection complaints (a client hanging up, a malformed request) are routine: keep them at debug.
  if (g_logging_start.load(std::memory_order_relaxed))
    spdlog::warn("api: libmicrohttpd: {}", msg);
  else
    spdlog::debug("api: libmicrohttpd: {}", msg);
}

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, Backend& b) : opt(std::move(o)), backend(b) {}

  ServerOptions opt;
  Backend& backend;
  ListenSocket unix_sock;
  ListenSocket metrics_sock;
  MHD_Daemon* daemon = nullptr;
  MHD_Daemon* metrics_daemon = nullptr;
  AccessPolicy policy;
  Extras extras;
  Counters counters;
  std::atomic<bool> running{false};
  // Written by start() before any worker thread exists, read by them afterwards.
  std::string served_path;
  std::string metrics_where;

  std::mutex streams_mu;
  bool stopping = false;  // guarded by streams_mu
  std::unordered_map<FollowStream*, std::shared_ptr<FollowStream>> streams;
  std::condition_variable streams_cv;

  ConnectionShares shares;

  // MHD_OPTION_NOTIFY_CONNECTION, on the worker thread that accepted or closes the connection.
  void on_connection(MHD_Connection* conn, void** socket_context, MHD_ConnectionNotificationCode code) {
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
      auto* counted = static_cast<CountedConnection*>(*socket_context);
      if (counted == nullptr) return;
      {
        std::lock_guard lk(shares.mu);
        auto it = shares.by_uid.find(counted->uid);
        if (it != shares.by_uid.end() && --it->second == 0) shares.by_uid.erase(it);
        shares.total--;
      }
      delete counted;
      *socket_context = nullptr;
      return;
    }
    int fd = connection_fd(conn);
    if (fd < 0) return;
    auto peer = peer_credentials(fd);
    if (!peer) return;  // not AF_UNIX (the metrics port): nothing to share
    if (peer->uid == 0 || peer->uid == policy.owner_uid) return;
    const unsigned shared_limit =
        opt.connection_limit > opt.root_reserved_connections ? opt.connection_limit - opt.root_reserved_connections : 0;
    {
      std::lock_guard lk(shares.mu);
      unsigned& mine = shares.by_uid[peer->uid];
      if (mine < opt.per_uid_connections && shares.total < shared_limit) {
        mine++;
        shares.total++;
        *socket_context = new CountedConnection{peer->uid};
        return;
      }
      if (mine == 0) shares.by_uid.erase(peer->uid);
    }
    counters.connections_refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("api: closed a connection of uid {} at once: over its share of connections", peer->uid);
    // MHD sees end of file on its next read and closes the connection.
    ::shutdown(fd, SHUT_RDWR);
  }

  static void connection_cb(void* cls, MHD_Connection* conn, void** socket_context,
                            MHD_ConnectionNotificationCode code) {
    static_cast<Impl*>(cls)->on_connection(conn, socket_context, code);
  }

  std::mutex ka_mu;
  std::condition_variable ka_cv;
  bool ka_stop = false;
  std::thread ka_thread;

  Caller caller_of(MHD_Connection* conn) {
    Caller c;
    c.group = policy.group_name;
    c.uid = static_cast<uint32_t>(-1);
    int fd = connection_fd(conn);
    if (fd < 0) return c;
    auto peer = peer_credentials(fd);
    if (!peer) {
      spdlog::debug("api: {}", peer.error().message);
      return c;
    }
    c.uid = peer->uid;
    c.access = access_for(*peer, policy);
    return c;
  }

  // Bytes of answers queued on connections and not yet sent (released by completed_cb).
  std::atomic<size_t> unsent{0};
  // Bytes of events that follow streams hold for their clients.
  std::atomic<size_t> follow_held{0};

  // A 503 for a bound reached (`why` says which and what to do), with Retry-After, counted as busy.
  Response busy(const std::string& why) {
    counters.busy.fetch_add(1, std::memory_order_relaxed);
    Response resp = error_response(503, "busy: " + why);
    resp.headers.emplace_back("Retry-After", "1");
    return resp;
  }
  MHD_Result send_busy(MHD_Connection* conn, const std::string& why) { return send(conn, busy(why)); }

  MHD_Result send(MHD_Connection* conn, const Response& resp, RequestContext* ctx = nullptr) {
    const size_t size = resp.body.size();
    if (ctx != nullptr && size > kSmallResponse) {
      size_t before = unsent.fetch_add(size);
      if (before + size > opt.unsent_response_bytes) {
        unsent.fetch_sub(size);
        return send_busy(conn, "answers of " + std::to_string(before >> 20) +
                                   " MiB wait for their clients to read them (limit " +
                                   std::to_string(opt.unsent_response_bytes >> 20) +
                                   " MiB); retry, or ask for fewer events (limit=)");
      }
      ctx->unsent = size;
    }
    counters.requests.fetch_add(1, std::memory_order_relaxed);
    if (resp.status == 403) counters.denied.fetch_add(1, std::memory_order_relaxed);
    return queue(conn, resp);
  }

  void release_unsent(RequestContext* ctx) {
    if (ctx == nullptr || ctx->unsent == 0) return;
    unsent.fetch_sub(ctx->unsent);
    ctx->unsent = 0;
    // A large answer is gone: its memory goes back to the system rather than the daemon keeping the peak.
    memory_freed = true;
  }

  // Common prologue: no endpoint takes a body; one announced is a 413. Returns true when the request is
  // complete and should be answered now.
  bool consume_body(MHD_Connection* conn, size_t* upload_data_size, void** con_cls, MHD_Result* ret) {
    auto* ctx = static_cast<RequestContext*>(*con_cls);
    if (ctx == nullptr) {  // uri_logged makes one for every request; this is a fallback
      ctx = new RequestContext;
      *con_cls = ctx;
    }
    if (!ctx->started) {
      ctx->started = true;
      if (ctx->too_many_params) {
        *ret = send(conn, error_response(414, "too many query parameters (at most " + std::to_string(kMaxQueryParams) +
                                                  ")"));
        return false;
      }
      if (ctx->nul) {
        *ret = send(conn, error_response(400, "the request holds a NUL byte (%00)"));
        return false;
      }
      // No endpoint takes a body. One announced is refused before a byte of it is read: waiting for it would
      // let a client that never sends it (a chunk of 1 TB, half a Content-Length) hold the connection until the
      // inactivity timeout.
      const char* cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      const char* te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
      bool body = te != nullptr;
      if (cl != nullptr) {
        auto length = parse_uint(cl, 0, UINT64_MAX);
        body = body || !length || *length != 0;
      }
      if (body) {
        *ret = send(conn, error_response(413, "request bodies are not accepted (no endpoint takes one)"));
        return false;
      }
      *ret = MHD_YES;
      return false;
    }
    // Unreachable with the check above; a body that arrives anyway ends the connection.
    if (*upload_data_size != 0) {
      *ret = MHD_NO;
      return false;
    }
    return true;
  }

  static Request request_of(const char* method, const char* url) {
    Request req;
    req.method = method != nullptr ? method : "";
    req.path = url != nullptr ? url : "";
    req.now_ns = wall_clock_ns();
    return req;
  }

  MHD_Result on_request(MHD_Connection* conn, const char* url, const char* method, size_t* upload_data_size,
                        void** con_cls) {
    MHD_Result ret = MHD_YES;
    if (!consume_body(conn, upload_data_size, con_cls, &ret)) return ret;
    auto* ctx = static_cast<RequestContext*>(*con_cls);
    if (ctx->deferred) {
      // Resumed by the answers thread: its answer, or its follow stream, is ready.
      if (ctx->follow) {
        ctx->deferred = false;
        const std::shared_ptr<FollowStream> stream = std::move(ctx->follow);
        return queue_follow(conn, *stream);
      }
      if (!ctx->built) return MHD_YES;
      Response built = std::move(*ctx->built);
      ctx->built.reset();
      ctx->deferred = false;
      return send(conn, built, ctx);
    }

    Request req = request_of(method, url);
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &params_iterator, &req.params);

    Caller caller = caller_of(conn);
    Handled h = handle(req, caller, backend, extras, true);
    if (h.stream) {
      // A stream that starts with history (since=) has up to follow_queue_lines events to load first: large.
      if (h.stream->query.since_ns) return defer(conn, ctx, std::move(*h.stream), true);
      auto started = start_follow(conn, *h.stream);
      if (auto* refused = std::get_if<Response>(&started)) return send(conn, *refused);
      return queue_follow(conn, *std::get<std::shared_ptr<FollowStream>>(started));
    }
    if (h.deferred) return defer(conn, ctx, std::move(*h.deferred));
    return send(conn, h.response, ctx);
  }

  // Large answers are built one at a time on their own thread while their connections are suspended, so
  // that the worker threads keep answering everyone's small questions (status, one event, top) at once.
  struct LargeAnswer {
    MHD_Connection* conn;
    RequestContext* ctx;
    Route route;
    bool follow;  // a follow stream to start with its history rather than an answer to build
    int fd;       // the connection's socket: a client that has hung up gets nothing built
  };
  static constexpr size_t kLargeQueue = 32;
  std::mutex large_mu;
  std::condition_variable large_cv;
  std::deque<LargeAnswer> large_queue;  // guarded by large_mu
  bool large_stop = false;              // guarded by large_mu
  size_t large_unfinished = 0;          // deferred requests not yet completed; guarded by large_mu
  std::thread large_thread;

  MHD_Result defer(MHD_Connection* conn, RequestContext* ctx, Route route, bool follow = false) {
    {
      std::lock_guard lk(large_mu);
      if (!large_stop && large_queue.size() < kLargeQueue) {
        // Suspended before the answers thread can see it, so its resume always follows this suspension.
        ctx->deferred = true;
        ctx->was_deferred = true;
        large_unfinished++;
        MHD_suspend_connection(conn);
        large_queue.push_back({conn, ctx, std::move(route), follow, connection_fd(conn)});
        large_cv.notify_one();
        return MHD_YES;
      }
      if (large_stop) return send(conn, error_response(503, "enospcd is shutting down"));
    }
    return send_busy(conn, std::to_string(kLargeQueue) +
                               " large answers are waiting to be built; retry, or ask for fewer events (limit=)");
  }

  void large_loop() {
    std::unique_lock lk(large_mu);
    for (;;) {
      large_cv.wait(lk, [&] { return large_stop || !large_queue.empty(); });
      if (large_queue.empty()) return;  // stopping, and everything queued was answered
      LargeAnswer job = std::move(large_queue.front());
      large_queue.pop_front();
      const bool stopping_now = large_stop;
      lk.unlock();
      Response resp;
      if (stopping_now) {
        resp = error_response(503, "enospcd is shutting down");
      } else if (client_gone(job.fd)) {
        // A suspended connection does not notice its client leave; MHD closes it once resumed.
        resp = error_response(503, "the client hung up before its answer was built");
      } else if (job.follow) {
        auto started = start_follow(job.conn, job.route);
        if (auto* stream = std::get_if<std::shared_ptr<FollowStream>>(&started)) job.ctx->follow = std::move(*stream);
        else resp = std::move(std::get<Response>(started));
      } else {
        try {
          resp = respond(job.route, backend, extras);
        } catch (const std::exception& ex) {
          resp = error_response(500, std::string("internal error: ") + ex.what());
        }
      }
      if (!job.ctx->follow) job.ctx->built = std::move(resp);
      MHD_resume_connection(job.conn);
      memory_freed = true;  // what building the answer took beyond the answer itself
      lk.lock();
    }
  }

  // The peer closed its end of the socket (both directions: a client that only stopped writing still waits).
  static bool client_gone(int fd) {
    if (fd < 0) return false;
    pollfd p{fd, 0, 0};
    return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
  }

  uint64_t large_waiting() {
    std::lock_guard lk(large_mu);
    return large_queue.size();
  }

  void large_request_done(RequestContext* ctx) {
    if (ctx == nullptr || !ctx->was_deferred) return;
    std::lock_guard lk(large_mu);
    large_unfinished--;
    large_cv.notify_all();
  }

  // Every waiting large answer is resumed with a 503 (the one being built finishes), and the worker threads
  // get a moment to send them so that their clients see an answer rather than a cut.
  void stop_large_answers() {
    {
      std::lock_guard lk(large_mu);
      large_stop = true;
    }
    large_cv.notify_all();
    if (large_thread.joinable()) large_thread.join();
    std::unique_lock lk(large_mu);
    large_cv.wait_for(lk, std::chrono::seconds(1), [&] { return large_unfinished == 0; });
  }

  MHD_Result on_metrics_request(MHD_Connection* conn, const char* url, const char* method, size_t* upload_data_size,
                                void** con_cls) {
    MHD_Result ret = MHD_YES;
    if (!consume_body(conn, upload_data_size, con_cls, &ret)) return ret;
    Request req = request_of(method, url);
    RouteResult rr = route(req);
    if (auto* e = std::get_if<ApiError>(&rr)) return send(conn, error_response(*e));
    const Route& r = std::get<Route>(rr);
    if (r.endpoint != Endpoint::metrics && r.endpoint != Endpoint::healthz)
      return send(conn, error_response(404, "this port serves /metrics and /healthz only; the API is on the "
                                            "unix socket"));
    return send(conn, respond(r, backend, extras));
  }

  // A follow stream subscribed and with its history (since=) loaded, or the answer that refuses it.
  std::variant<std::shared_ptr<FollowStream>, Response> start_follow(MHD_Connection* conn, const Route& r) {
    auto stream = std::make_shared<FollowStream>(this, conn, connection_fd(conn), opt.follow_queue_lines, &counters,
                                                 &follow_held, opt.follow_held_bytes);
    {
      std::lock_guard lk(streams_mu);
      if (stopping) return error_response(503, "enospcd is shutting down");
      streams.emplace(stream.get(), stream);
    }
    try {
      stream->set_subscription(backend.subscribe(r.query, [stream](const nlohmann::json& e) { stream->push(e); }));
      if (r.query.since_ns) {
        // The backlog a stream starts with is held to the stream's own bound: the newest follow_queue_lines.
        EventQuery history = r.query;
        history.limit = std::min(history.limit, opt.follow_queue_lines);
        if (!stream->load_history(backend, history)) {
          release_stream(stream.get());
          return busy("follow streams hold " + std::to_string(follow_held.load() >> 20) +
                      " MiB of events for clients that have not read them (limit " +
                      std::to_string(opt.follow_held_bytes >> 20) + " MiB); retry, or start with less (since=, limit=)");
        }
      }
    } catch (const std::exception& ex) {
      release_stream(stream.get());
      return error_response(500, std::string("internal error starting the follow stream: ") + ex.what());
    }
    return stream;
  }

  // Sends the stream's response; MHD calls follow_read as the socket takes more and follow_free at the end.
  MHD_Result queue_follow(MHD_Connection* conn, FollowStream& stream) {
    MHD_Response* resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, size_t{16} * 1024, &Impl::follow_read,
                                                           &stream, &Impl::follow_free);
    if (resp == nullptr) {
      release_stream(&stream);
      return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, std::string(kNdjsonType).c_str());
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    counters.requests.fetch_add(1, std::memory_order_relaxed);
    MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);  // the connection holds its own reference; follow_free runs when it drops it
    return ret;
  }

  // Unsubscribes (waiting for a callback in flight) and forgets the stream.
  void release_stream(FollowStream* s) {
    std::unique_ptr<Subscription> sub = s->detach();
    sub.reset();
    std::shared_ptr<FollowStream> keep;
    {
      std::lock_guard lk(streams_mu);
      auto it = streams.find(s);
      if (it != streams.end()) {
        keep = std::move(it->second);
        streams.erase(it);
      }
    }
    memory_freed = true;
    streams_cv.notify_all();
  }

  static ssize_t follow_read(void* cls, uint64_t, char* buf, size_t max) {
    return static_cast<FollowStream*>(cls)->read(buf, max);
  }

  static void follow_free(void* cls);

  static MHD_Result request_cb(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                               const char*, size_t* upload_data_size, void** con_cls) {
    return static_cast<Impl*>(cls)->on_request(conn, url, method, upload_data_size, con_cls);
  }

  static MHD_Result metrics_cb(void* cls, MHD_Connection* conn, const char* url, const char* method, const char*,
                               const char*, size_t* upload_data_size, void** con_cls) {
    return static_cast<Impl*>(cls)->on_metrics_request(conn, url, method, upload_data_size, con_cls);
  }

  static void completed_cb(void* cls, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    auto* ctx = static_cast<RequestContext*>(*con_cls);
    // A stream started for a connection that closed before its response was queued.
    if (ctx != nullptr && ctx->follow) static_cast<Impl*>(cls)->release_stream(ctx->follow.get());
    static_cast<Impl*>(cls)->release_unsent(ctx);
    static_cast<Impl*>(cls)->large_request_done(ctx);
    delete ctx;
    *con_cls = nullptr;
  }

  MHD_Daemon* start_daemon(int fd, MHD_AccessHandlerCallback cb, unsigned threads, unsigned limit, bool suspend) {
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (suspend) flags |= MHD_ALLOW_SUSPEND_RESUME;
    else flags |= MHD_USE_ITC;  // needed by MHD_quiesce_daemon
    std::vector<MHD_OptionItem> items;
    items.push_back({MHD_OPTION_LISTEN_SOCKET, fd, nullptr});
    items.push_back({MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(limit), nullptr});
    items.push_back({MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(opt.connection_timeout.count()), nullptr});
    items.push_back({MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(opt.request_memory_limit), nullptr});
    items.push_back({MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&Impl::completed_cb), this});
    items.push_back({MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&uri_logged), nullptr});
    // Shares of connections by uid: on the unix socket (the metrics port has no peer credentials).
    if (suspend)
      items.push_back({MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&Impl::connection_cb), this});
    if (threads > 1) items.push_back({MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(threads), nullptr});
    items.push_back({MHD_OPTION_END, 0, nullptr});
    // The logger goes first so that complaints about later options reach it too.
    return MHD_start_daemon(flags, 0, nullptr, nullptr, cb, this, MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr,
                            MHD_OPTION_ARRAY, items.data(), MHD_OPTION_END);
  }

  // MHD may or may not have closed a socket it failed to start on; never close it twice.
  static void forget_if_closed(ListenSocket& sock) {
    if (sock.fd() >= 0 && ::fcntl(sock.fd(), F_GETFD) == -1 && errno == EBADF) sock.disown();
  }

  Result<void> start();
  void stop();

  // Set when a follow stream, a large answer or one being built lets go of its memory: the next tick gives
  // the freed pages of every arena back to the system (the worker threads' arenas keep them otherwise, and a
  // burst of streams would leave the daemon at its peak).
  std::atomic<bool> memory_freed{false};

  void keepalive_loop() {
    constexpr auto kTrimTick = std::chrono::milliseconds(500);
    const auto tick = std::min<std::chrono::milliseconds>(kTrimTick, opt.follow_keepalive);
    auto next_keepalive = std::chrono::steady_clock::now() + opt.follow_keepalive;
    std::unique_lock lk(ka_mu);
    while (!ka_stop) {
      ka_cv.wait_for(lk, tick, [&] { return ka_stop; });
      if (ka_stop) break;
      if (memory_freed.exchange(false)) ::malloc_trim(0);
      if (std::chrono::steady_clock::now() < next_keepalive) continue;
      next_keepalive = std::chrono::steady_clock::now() + opt.follow_keepalive;
      std::vector<std::shared_ptr<FollowStream>> snapshot;
      {
        std::lock_guard slk(streams_mu);
        for (auto& [p, s] : streams) snapshot.push_back(s);
      }
      for (auto& s : snapshot) s->keepalive();
    }
  }

  uint64_t active_streams() {
    std::lock_guard lk(streams_mu);
    return streams.size();
  }

  nlohmann::json api_status() {
    nlohmann::json j;
    j["version"] = std::string(kApiVersion);
    j["socket"] = served_path;
    j["socket_activated"] = unix_sock.activated();
    j["group"] = policy.group_name.empty() ? nlohmann::json(nullptr) : nlohmann::json(policy.group_name);
    j["metrics_listen"] = metrics_where.empty() ? nlohmann::json(nullptr) : nlohmann::json(metrics_where);
    j["requests"] = counters.requests.load();
    j["denied"] = counters.denied.load();
    j["follow_streams"] = active_streams();
    j["follow_dropped"] = counters.follow_dropped.load();
    j["connections_refused"] = counters.connections_refused.load();
    j["busy"] = counters.busy.load();
    j["large_answers_waiting"] = large_waiting();
    return j;
  }

  std::string api_metrics() {
    std::string out;
    auto series = [&](const char* name, const char* type, const char* help, uint64_t value) {
      out += "# HELP ";
      out += name;
      out += ' ';
      out += help;
      out += "\n# TYPE ";
      out += name;
      out += ' ';
      out += type;
      out += '\n';
      out += name;
      out += ' ';
      out += std::to_string(value);
      out += '\n';
    };
    series("enospcd_api_requests_total", "counter", "Requests answered by the query API.", counters.requests.load());
    series("enospcd_api_denied_total", "counter", "API requests refused with 403 after the SO_PEERCRED check.",
           counters.denied.load());
    series("enospcd_api_follow_streams", "gauge", "Open follow (NDJSON) streams.", active_streams());
    series("enospcd_api_follow_dropped_total", "counter", "Follow clients dropped because they stopped reading.",
           counters.follow_dropped.load());
    series("enospcd_api_busy_total", "counter",
           "Requests refused with 503 busy: unread answers or follow backlogs at their bound, or 32 large answers waiting.", counters.busy.load());
    series("enospcd_api_connections_refused_total", "counter",
           "Connections closed at accept: over the user's share, or into the room kept for root.",
           counters.connections_refused.load());
    return out;
  }
};

void Server::Impl::follow_free(void* cls) {
  auto* stream = static_cast<FollowStream*>(cls);
  static_cast<Server::Impl*>(stream->owner_ptr())->release_stream(stream);
}

Result<void> Server::Impl::start() {
  if (running) return make_error("the API server is already running");
  if (opt.threads == 0 || opt.threads > 64) return make_error("API threads must be from 1 to 64");
  if (opt.connection_limit < 4) return make_error("API connection limit must be at least 4");
  if (opt.follow_queue_lines == 0) return make_error("follow queue must hold at least one line");
  if (opt.connection_timeout.count() <= 0) return make_error("API connection timeout must be positive");
  if (opt.follow_keepalive.count() <= 0 ||
      opt.follow_keepalive >= std::chrono::duration_cast<std::chrono::milliseconds>(opt.connection_timeout))
    return make_error("follow keepalive must be positive and shorter than the connection timeout");

  GroupChoice group = resolve_group(opt.group);
  policy.owner_uid = ::geteuid();
  policy.read_gid = group.gid;
  policy.group_name = group.gid ? group.name : "";
  if (group.missing)
    spdlog::warn("api: group '{}' does not exist, so only root may use the API (create it with: groupadd --system {})",
                 group.name, group.name);

  std::optional<ListenSocket> activated;
  if (opt.socket_activation) {
    auto a = ListenSocket::from_systemd();
    if (!a) return a.error();
    activated = std::move(*a);
  }
  if (activated) {
    unix_sock = std::move(*activated);
    served_path = unix_sock.path().empty() ? opt.socket_path : unix_sock.path();
  } else {
    auto s = ListenSocket::bind_unix(opt.socket_path, policy.read_gid);
    if (!s) return s.error();
    unix_sock = std::move(*s);
    served_path = opt.socket_path;
  }

  if (!opt.metrics_listen.empty()) {
    auto m = ListenSocket::bind_loopback_tcp(opt.metrics_listen, opt.metrics_allow_remote);
    if (!m) {
      unix_sock.close();
      return m.error();
    }
    metrics_sock = std::move(*m);
    metrics_where = metrics_sock.path();
  }

  extras.api_status = [this] { return api_status(); };
  extras.metrics = [this] { return api_metrics(); };
  {
    std::lock_guard lk(streams_mu);
    stopping = false;
  }

  g_logging_start = true;
  daemon = start_daemon(unix_sock.fd(), &Impl::request_cb, opt.threads, opt.connection_limit, true);
  if (daemon == nullptr) {
    g_logging_start = false;
    forget_if_closed(unix_sock);
    unix_sock.close();
    metrics_sock.close();
    return make_error("cannot start the HTTP server on " + served_path + " (libmicrohttpd refused; see the log)");
  }
  if (metrics_sock.fd() >= 0) {
    metrics_daemon = start_daemon(metrics_sock.fd(), &Impl::metrics_cb, 1, 32, false);
    if (metrics_daemon == nullptr) {
      g_logging_start = false;
      forget_if_closed(metrics_sock);
      std::string where = metrics_sock.path();
      stop();
      return make_error("cannot start the metrics listener on " + where);
    }
  }
  g_logging_start = false;

  {
    std::lock_guard lk(ka_mu);
    ka_stop = false;
  }
  ka_thread = std::thread([this] { keepalive_loop(); });
  {
    std::lock_guard lk(large_mu);
    large_stop = false;
  }
  large_thread = std::thread([this] { large_loop(); });
  running = true;
  spdlog::info("api: serving on {}{}{}", served_path, unix_sock.activated() ? " (socket activated)" : "",
               metrics_where.empty() ? std::string() : ", metrics on " + metrics_where);
  return {};
}

void Server::Impl::stop() {
  if (ka_thread.joinable()) {
    {
      std::lock_guard lk(ka_mu);
      ka_stop = true;
    }
    ka_cv.notify_all();
    ka_thread.join();
  }
  std::vector<std::shared_ptr<FollowStream>> snapshot;
  {
    std::lock_guard lk(streams_mu);
    stopping = true;
    for (auto& [p, s] : streams) snapshot.push_back(s);
  }
  // Every suspended large answer is resumed (those not yet built answer 503) before MHD stops.
  stop_large_answers();
  if (daemon != nullptr) {
    // Stop accepting first; the socket stays ours (MHD does not close a quiesced listen socket).
    MHD_quiesce_daemon(daemon);
    // MHD must not be stopped with suspended connections: end every stream, which resumes it, and give the
    // streams a moment to send their final chunk so that clients see a clean end rather than a cut.
    for (auto& s : snapshot) s->close_for_shutdown();
    snapshot.clear();
    {
      std::unique_lock lk(streams_mu);
      streams_cv.wait_for(lk, std::chrono::seconds(1), [&] { return streams.empty(); });
    }
    MHD_stop_daemon(daemon);
    daemon = nullptr;
  }
  if (metrics_daemon != nullptr) {
    MHD_quiesce_daemon(metrics_daemon);
    MHD_stop_daemon(metrics_daemon);
    metrics_daemon = nullptr;
  }
  // Streams whose response never reached MHD are released here.
  std::vector<FollowStream*> left;
  {
    std::lock_guard lk(streams_mu);
    for (auto& [p, s] : streams) left.push_back(p);
  }
  for (FollowStream* s : left) release_stream(s);
  unix_sock.close();
  metrics_sock.close();
  metrics_where.clear();
  running = false;
}

Server::Server(ServerOptions options, Backend& backend) : impl_(std::make_unique<Impl>(std::move(options), backend)) {}

Server::~Server() { stop(); }

Result<void> Server::start() { return impl_->start(); }
void Server::stop() { impl_->stop(); }

bool Server::running() const { return impl_->running; }
std::string Server::socket_path() const { return impl_->served_path; }
bool Server::socket_activated() const { return impl_->unix_sock.activated(); }
uint16_t Server::metrics_port() const { return impl_->metrics_daemon ? impl_->metrics_sock.tcp_port() : 0; }

ServerStats Server::stats() const {
  ServerStats s;
  s.requests = impl_->counters.requests.load();
  s.denied = impl_->counters.denied.load();
  s.follow_active = impl_->active_streams();
  s.follow_dropped = impl_->counters.follow_dropped.load();
  s.follow_events = impl_->counters.follow_events.load();
  s.connections_refused = impl_->counters.connections_refused.load();
  s.busy = impl_->counters.busy.load();
  s.unsent_bytes = impl_->unsent.load();
  s.large_waiting = impl_->large_waiting();
  return s;
}

}  // namespace enospcd::api
