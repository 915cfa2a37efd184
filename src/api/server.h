#pragma once
// The query API: HTTP/1.1 + JSON on a local AF_UNIX socket (libmicrohttpd), optionally /metrics on a
// loopback TCP port. See docs/api.md for the endpoints.
//
//   enospcd::api::Server server(options, backend);
//   if (auto r = server.start(); !r) { spdlog::error("{}", r.error().message); return 1; }
//   ...
//   server.stop();  // also done by the destructor

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "api/backend.h"
#include "common/result.h"

namespace enospcd::api {

struct ServerOptions {
  // Created race-free with mode 0660 in a 0710 root:<group> directory, unless systemd passes the socket.
  std::string socket_path = "/run/enospcd/enospcd.sock";
  // Group whose members may read (GET): a name or a numeric gid. When no such group exists (the default
  // "enospc" on a host that never created it) or the string is empty, only root may connect. Changes (POST)
  // are for root and the uid the daemon runs as.
  std::string group = "enospc";
  // Serve the socket systemd passes (LISTEN_PID/LISTEN_FDS, fd 3) instead of creating socket_path.
  bool socket_activation = true;
  // "" (off) or a loopback "HOST:PORT" such as "127.0.0.1:9633" or "[::1]:9633" serving /metrics and
  // /healthz without authentication. Non-loopback addresses are refused by start().
  std::string metrics_listen;
  // Accept a non-loopback metrics_listen address (e.g. a pod IP for Prometheus in Kubernetes). Opt-in.
  bool metrics_allow_remote = false;

  unsigned threads = 4;             // worker threads, each with its own epoll loop
  unsigned connection_limit = 256;  // concurrent connections, follow streams included
  // Checked when a connection is accepted, by the peer's uid (SO_PEERCRED): a user other than root and the
  // daemon's own holds at most per_uid_connections at once, and all such users together leave
  // root_reserved_connections free, so that silent or stalled clients cannot lock root out. A connection
  // beyond either is closed at once and counted (connections_refused).
  unsigned per_uid_connections = 32;
  unsigned root_reserved_connections = 16;
  std::chrono::seconds connection_timeout{30};        // idle or stalled connections are closed after this
  std::chrono::milliseconds follow_keepalive{15000};  // an empty line this often on idle follow streams
  size_t follow_queue_lines = 1024;  // a follow client this far behind is dropped
  size_t follow_held_bytes = size_t{32} << 20;  // events all follow streams hold for their clients, at most
  size_t request_memory_limit = size_t{16} * 1024;  // per connection: request line + headers must fit
  // Answers built but not yet sent (their clients read slowly or not at all) may hold this many bytes in all;
  // a large answer that would go beyond it gets a 503 with Retry-After instead, and small ones (up to
  // 64 KiB: status, health, a page of events) are always served. Memory goes back to the system once they
  // are sent.
  size_t unsent_response_bytes = size_t{64} << 20;
};

struct ServerStats {
  uint64_t requests = 0;        // answered requests (follow streams count once)
  uint64_t denied = 0;          // 403s
  uint64_t follow_active = 0;   // open follow streams
  uint64_t follow_dropped = 0;  // follow clients dropped for not reading
  uint64_t follow_events = 0;   // events queued to follow streams
  uint64_t connections_refused = 0;  // closed at accept: over the per-uid share or into root's reserve
  uint64_t busy = 0;                 // 503 busy: unsent_response_bytes or follow_held_bytes reached, or the large queue full
  uint64_t unsent_bytes = 0;         // answers built, not yet sent
  uint64_t large_waiting = 0;        // large answers queued for the answers thread, not yet being built
};

class Server {
 public:
  Server(ServerOptions options, Backend& backend);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the sockets and starts serving on background threads. Errors are sentences for the operator,
  // e.g. "another enospcd is serving /run/enospcd/enospcd.sock".
  Result<void> start();
  // Ends follow streams, closes connections, removes the socket file (unless systemd owns it). After it
  // returns the backend is no longer called and every Subscription has been destroyed. Idempotent.
  void stop();

  bool running() const;
  // The path served (for an activated socket, as reported by getsockname).
  std::string socket_path() const;
  bool socket_activated() const;
  // The bound metrics port (useful with port 0), 0 when the metrics listener is off.
  uint16_t metrics_port() const;
  ServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace enospcd::api
