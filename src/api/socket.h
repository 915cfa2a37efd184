#pragma once
// Listening sockets of the API: the AF_UNIX socket (created race-free, or adopted from systemd socket
// activation), the opt-in loopback TCP socket for Prometheus, and peer credentials of a connection.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "api/router.h"

namespace enospcd::api {

inline constexpr std::string_view kDefaultSocketPath = "/run/enospcd/enospcd.sock";
inline constexpr std::string_view kDefaultGroup = "enospc";

// Credentials of the process at the other end of an AF_UNIX connection, as of connect(2).
struct Peer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  std::vector<gid_t> groups;  // supplementary groups
};

// SO_PEERCRED, plus SO_PEERGROUPS (Linux 4.13) for the supplementary groups the peer really holds; where
// SO_PEERGROUPS is missing, the groups listed for the peer uid in the group database.
Result<Peer> peer_credentials(int fd);

struct AccessPolicy {
  uid_t owner_uid = 0;               // besides root, the uid the server runs as is an administrator
  std::optional<gid_t> read_gid;     // members may read
  std::string group_name;            // for messages
};

Access access_for(const Peer& peer, const AccessPolicy& policy);

// The read-access group: a group name, or a numeric gid (which needs no entry in the group database).
// gid is nullopt when `requested` is empty or names no group; `missing` tells the latter apart.
struct GroupChoice {
  std::optional<gid_t> gid;
  std::string name;
  bool missing = false;
};
GroupChoice resolve_group(std::string_view requested);

// A listening socket this process owns. Closing a socket it created also removes its path, if the path
// still names that very socket.
class ListenSocket {
 public:
  ListenSocket() = default;
  ~ListenSocket();
  ListenSocket(ListenSocket&& other) noexcept;
  ListenSocket& operator=(ListenSocket&& other) noexcept;
  ListenSocket(const ListenSocket&) = delete;
  ListenSocket& operator=(const ListenSocket&) = delete;

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  bool activated() const { return activated_; }
  void close();
  // Forgets the descriptor without closing it (someone else closed it already).
  void disown() { fd_ = -1; }

  // Creates `path` (mode 0660, or 0600 without a group) inside a directory that only root (or this user) can
  // change, all the way from / (open_trusted_dir): anything else is refused with the reason. The directory is
  // made 0710 root:group (0700 without a group) when this function creates it or it holds nothing but this
  // socket's files, and only once the lock is held and no live server answers on `path`. A stale socket
  // (connect() refused) is replaced atomically; a live one is an error.
  static Result<ListenSocket> bind_unix(const std::string& path, std::optional<gid_t> group);
  // The first socket passed by systemd (LISTEN_PID/LISTEN_FDS, sd_listen_fds(3)), or nullopt when this
  // process was not socket-activated. The variables are unset so that children do not inherit them.
  static Result<std::optional<ListenSocket>> from_systemd(int first_fd = 3);
  // A TCP socket on a loopback address, e.g. "127.0.0.1:9633" or "[::1]:9633" (port 0 picks one).
  // With allow_remote, any local address (a pod IP) is accepted: /metrics and /healthz only, no other endpoint.
  static Result<ListenSocket> bind_loopback_tcp(std::string_view address, bool allow_remote = false);

  uint16_t tcp_port() const { return port_; }

 private:
  int fd_ = -1;
  int lock_fd_ = -1;
  std::string path_;
  bool activated_ = false;
  bool created_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint16_t port_ = 0;
};

struct LoopbackAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::string host;
  uint16_t port = 0;
};
// Parses "host:port" and refuses anything that is not a loopback address.
Result<LoopbackAddress> parse_loopback_address(std::string_view address, bool allow_remote = false);

}  // namespace enospcd::api
