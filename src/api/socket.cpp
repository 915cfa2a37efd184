#include "api/socket.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <spdlog/spdlog.h>

#include "api/query.h"
#include "common/trusted_dir.h"
#include "common/unique_fd.h"

namespace enospcd::api {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

bool fill_sockaddr(const std::string& path, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (path.size() >= sizeof sa->sun_path) return false;
  std::memcpy(sa->sun_path, path.c_str(), path.size() + 1);
  return true;
}

// 0 when something accepts connections at `path`, else the connect() errno.
int probe_connect(const std::string& path) {
  sockaddr_un sa;
  if (!fill_sockaddr(path, &sa)) return ENAMETOOLONG;
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return errno;
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return 0;
  return errno;
}

// True when the directory holds nothing but files of the socket named `base` (the socket, its lock file and
// leftover private temporary directories): it is then ours to set modes on.
bool dedicated_directory(int dfd, const std::string& base) {
  int dup_fd = ::fcntl(dfd, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return false;
  DIR* dir = ::fdopendir(dup_fd);
  if (dir == nullptr) {
    ::close(dup_fd);
    return false;
  }
  bool ok = true;
  const std::string tmp_prefix = "." + base + ".";
  while (dirent* ent = ::readdir(dir)) {
    std::string_view name = ent->d_name;
    if (name == "." || name == ".." || name == base || name == base + ".lock" || name.starts_with(tmp_prefix))
      continue;
    ok = false;
    break;
  }
  ::closedir(dir);
  return ok;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

}  // namespace

Result<Peer> peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
    return make_error("SO_PEERCRED: " + errno_text(errno));
  Peer peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;

  std::vector<gid_t> groups(16);
  for (;;) {
    socklen_t glen = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &glen) == 0) {
      groups.resize(glen / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno == ERANGE && glen > groups.size() * sizeof(gid_t) && glen < (1u << 20)) {
      groups.resize(glen / sizeof(gid_t) + 1);
      continue;
    }
    break;
  }
  // Kernels before 4.13: fall back to the group database for the peer's uid.
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwuid_r(cred.uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    int n = 64;
    std::vector<gid_t> list(static_cast<size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, list.data(), &n) < 0) {
      list.resize(static_cast<size_t>(n));
      if (::getgrouplist(pw.pw_name, pw.pw_gid, list.data(), &n) < 0) n = 0;
    }
    list.resize(static_cast<size_t>(std::max(n, 0)));
    peer.groups = std::move(list);
  }
  return peer;
}

Access access_for(const Peer& peer, const AccessPolicy& policy) {
  if (peer.uid == 0 || peer.uid == policy.owner_uid) return Access::admin;
  if (policy.read_gid) {
    gid_t g = *policy.read_gid;
    if (peer.gid == g || std::find(peer.groups.begin(), peer.groups.end(), g) != peer.groups.end())
      return Access::read;
  }
  return Access::none;
}

GroupChoice resolve_group(std::string_view requested) {
  GroupChoice out;
  if (requested.empty()) return out;
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  const std::string name(requested);
  if (::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    out.gid = found->gr_gid;
    out.name = found->gr_name;
    return out;
  }
  if (auto v = parse_uint(name, 0, static_cast<gid_t>(-1) - 1)) {
    out.gid = static_cast<gid_t>(*v);
    found = nullptr;
    if (::getgrgid_r(*out.gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr)
      out.name = found->gr_name;
    else
      out.name = name;
    return out;
  }
  out.name = name;
  out.missing = true;
  return out;
}

ListenSocket::~ListenSocket() { close(); }

ListenSocket::ListenSocket(ListenSocket&& o) noexcept { *this = std::move(o); }

ListenSocket& ListenSocket::operator=(ListenSocket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = std::exchange(o.fd_, -1);
    lock_fd_ = std::exchange(o.lock_fd_, -1);
    path_ = std::move(o.path_);
    activated_ = o.activated_;
    created_ = std::exchange(o.created_, false);
    dev_ = o.dev_;
    ino_ = o.ino_;
    port_ = o.port_;
  }
  return *this;
}

void ListenSocket::close() {
  if (created_ && !path_.empty()) {
    // Remove the path only while it still names our socket: a successor may already have replaced it.
    struct stat st{};
    if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(path_.c_str());
    created_ = false;
  }
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  // The lock file stays: unlinking it would let a second daemon lock a fresh inode while a third still holds
  // the old one.
  if (lock_fd_ >= 0) ::close(std::exchange(lock_fd_, -1));
}

Result<ListenSocket> ListenSocket::bind_unix(const std::string& path, std::optional<gid_t> group) {
  sockaddr_un sa;
  if (path.empty()) return make_error("the API socket path is empty");
  if (!fill_sockaddr(path, &sa))
    return make_error("API socket path " + path + " is too long (" + std::to_string(path.size()) +
                      " bytes; AF_UNIX allows " + std::to_string(sizeof sa.sun_path - 1) + ")");
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") return make_error("API socket path " + path + " names no file");

  const uid_t owner = ::geteuid();
  const bool root = owner == 0;
  // Every directory from / down to the socket's must be one only root (or this user) can change: anyone
  // else who could rename the socket away could put a fake server in its place.
  auto trusted = open_trusted_dir(dir, owner, 0700);
  if (!trusted) return make_error("refusing to serve the API at " + path + ": " + trusted.error().message);
  const bool created_dir = trusted->created;
  UniqueFd dfd = std::move(trusted->fd);

  // The lock closes the window between probing the old socket and renaming the new one over it. Nothing is
  // changed in the directory before this daemon knows it will serve: a second daemon started by mistake
  // leaves the first one's directory as it was.
  UniqueFd lock(::openat(dfd.get(), (base + ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (lock.get() < 0) return make_error("cannot open lock file " + path + ".lock: " + errno_text(errno));
  struct stat lst{};
  if (::fstat(lock.get(), &lst) != 0) return make_error("cannot stat " + path + ".lock: " + errno_text(errno));
  if (!S_ISREG(lst.st_mode) || (lst.st_uid != owner && lst.st_uid != 0))
    return make_error("lock file " + path + ".lock is not a regular file of root's (owner uid " +
                      std::to_string(lst.st_uid) + "); remove it");
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return make_error("another enospcd is serving " + path);
    return make_error("cannot lock " + path + ".lock: " + errno_text(errno));
  }

  struct stat sst{};
  if (::fstatat(dfd.get(), base.c_str(), &sst, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISSOCK(sst.st_mode)) return make_error(path + " exists and is not a socket; refusing to replace it");
    int err = probe_connect(path);
    if (err == 0) return make_error("another enospcd is serving " + path);
    if (err != ECONNREFUSED)
      return make_error("cannot tell whether " + path + " is in use: connect: " + errno_text(err));
    spdlog::info("api: replacing stale socket {}", path);
  } else if (errno != ENOENT) {
    return make_error("cannot stat " + path + ": " + errno_text(errno));
  }

  if (created_dir || dedicated_directory(dfd.get(), base)) {
    // Group members need search (x) permission to reach the socket; nobody else needs anything.
    if (::fchown(dfd.get(), root ? 0 : static_cast<uid_t>(-1), group ? *group : (root ? 0 : static_cast<gid_t>(-1))) != 0 &&
        root)
      return make_error("cannot chown " + dir + ": " + errno_text(errno));
    if (::fchmod(dfd.get(), group ? 0710 : 0700) != 0)
      return make_error("cannot chmod " + dir + ": " + errno_text(errno));
  } else {
    spdlog::debug("api: {} is shared with other files; leaving its mode alone", dir);
  }

  // Bind inside a private 0700 directory, set owner and mode there, then rename(2) into place: the socket
  // is never reachable with a looser mode, and a stale one is replaced atomically.
  std::string tmpl = join(dir, "." + base + ".XXXXXX");
  if (tmpl.size() + 2 >= sizeof sa.sun_path) tmpl = join(dir, ".XXXXXX");
  if (tmpl.size() + 2 >= sizeof sa.sun_path)
    return make_error("API socket path " + path + " is too long to be created safely");
  std::vector<char> tmpdir(tmpl.begin(), tmpl.end());
  tmpdir.push_back('\0');
  if (::mkdtemp(tmpdir.data()) == nullptr)
    return make_error("cannot create a temporary directory in " + dir + ": " + errno_text(errno));
  const std::string tmp_dir(tmpdir.data());
  const std::string tmp_sock = tmp_dir + "/s";
  auto cleanup_tmp = [&] {
    ::unlink(tmp_sock.c_str());
    ::rmdir(tmp_dir.c_str());
  };

  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) {
    cleanup_tmp();
    return make_error("socket(AF_UNIX): " + errno_text(errno));
  }
  sockaddr_un tsa;
  fill_sockaddr(tmp_sock, &tsa);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&tsa), sizeof tsa) != 0) {
    int err = errno;
    cleanup_tmp();
    return make_error("cannot bind " + tmp_sock + ": " + errno_text(err));
  }
  if (::chown(tmp_sock.c_str(), root ? 0 : static_cast<uid_t>(-1), group ? *group : static_cast<gid_t>(-1)) != 0 &&
      root) {
    int err = errno;
    cleanup_tmp();
    return make_error("cannot chown the API socket: " + errno_text(err));
  }
  if (::chmod(tmp_sock.c_str(), group ? 0660 : 0600) != 0) {
    int err = errno;
    cleanup_tmp();
    return make_error("cannot chmod the API socket: " + errno_text(err));
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) {
    int err = errno;
    cleanup_tmp();
    return make_error("listen on the API socket: " + errno_text(err));
  }
  if (::rename(tmp_sock.c_str(), path.c_str()) != 0) {
    int err = errno;
    cleanup_tmp();
    return make_error("cannot move the API socket to " + path + ": " + errno_text(err));
  }
  ::rmdir(tmp_dir.c_str());
  if (::fstatat(dfd.get(), base.c_str(), &sst, AT_SYMLINK_NOFOLLOW) != 0)
    return make_error("cannot stat " + path + " after creating it: " + errno_text(errno));

  ListenSocket out;
  out.fd_ = fd.release();
  out.lock_fd_ = lock.release();
  out.path_ = path;
  out.created_ = true;
  out.dev_ = sst.st_dev;
  out.ino_ = sst.st_ino;
  return out;
}

Result<std::optional<ListenSocket>> ListenSocket::from_systemd(int first_fd) {
  const char* pid_s = std::getenv("LISTEN_PID");
  const char* fds_s = std::getenv("LISTEN_FDS");
  if (pid_s == nullptr || fds_s == nullptr) return std::optional<ListenSocket>{};
  auto pid = parse_uint(pid_s, 1, INT32_MAX);
  auto nfds = parse_uint(fds_s, 0, 4096);
  if (!pid || static_cast<pid_t>(*pid) != ::getpid()) return std::optional<ListenSocket>{};  // meant for a parent
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!nfds || *nfds == 0) return std::optional<ListenSocket>{};
  if (*nfds > 1) spdlog::warn("api: systemd passed {} sockets; serving the first one only", *nfds);

  int fd = first_fd;
  int domain = 0, type = 0, accepting = 0;
  socklen_t len = sizeof domain;
  bool ok = ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0;
  len = sizeof type;
  ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
  len = sizeof accepting;
  ok = ok && ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) == 0;
  if (!ok || domain != AF_UNIX || type != SOCK_STREAM || !accepting)
    return make_error("the socket passed by systemd (fd " + std::to_string(fd) +
                      ") is not a listening AF_UNIX stream socket; use ListenStream= with a path");
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  int fl = ::fcntl(fd, F_GETFL);
  if (fl >= 0) ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);

  ListenSocket out;
  out.fd_ = fd;
  out.activated_ = true;
  sockaddr_un sa{};
  socklen_t salen = sizeof sa;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &salen) == 0 && salen > sizeof(sa_family_t) &&
      sa.sun_path[0] != '\0')
    out.path_ = std::string(sa.sun_path, strnlen(sa.sun_path, sizeof sa.sun_path));
  return std::optional<ListenSocket>(std::move(out));
}

Result<LoopbackAddress> parse_loopback_address(std::string_view address, bool allow_remote) {
  auto bad = [&](std::string_view why) {
    return make_error("invalid metrics listen address '" + std::string(address) + "': " + std::string(why));
  };
  LoopbackAddress out;
  std::string_view host, port;
  if (address.starts_with("[")) {
    size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return bad("expected [::1]:PORT");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) return bad("expected HOST:PORT, e.g. 127.0.0.1:9633");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad("write IPv6 addresses in brackets: [::1]:9633");
  }
  auto p = parse_uint(port, 0, 65535);
  if (!p) return bad("port must be a number from 0 to 65535");
  out.port = static_cast<uint16_t>(*p);
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  in_addr a4{};
  in6_addr a6{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    if (!allow_remote && (ntohl(a4.s_addr) >> 24) != 127)
      return bad(h + " is not a loopback address; metrics are only served on 127.0.0.0/8 or ::1 "
                     "(put a proxy in front, or pass --metrics-allow-remote to serve /metrics and /healthz on it)");
    out.family = AF_INET;
  } else if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
    if (!allow_remote && !IN6_IS_ADDR_LOOPBACK(&a6))
      return bad(h + " is not a loopback address; metrics are only served on 127.0.0.0/8 or ::1 "
                     "(put a proxy in front, or pass --metrics-allow-remote to serve /metrics and /healthz on it)");
    out.family = AF_INET6;
  } else {
    return bad("'" + h + "' is not an IP address");
  }
  out.host = h;
  return out;
}

Result<ListenSocket> ListenSocket::bind_loopback_tcp(std::string_view address, bool allow_remote) {
  auto addr = parse_loopback_address(address, allow_remote);
  if (!addr) return addr.error();
  UniqueFd fd(::socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return make_error("socket: " + errno_text(errno));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t sslen = 0;
  if (addr->family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(addr->port);
    ::inet_pton(AF_INET, addr->host.c_str(), &sin->sin_addr);
    sslen = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(addr->port);
    ::inet_pton(AF_INET6, addr->host.c_str(), &sin6->sin6_addr);
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    sslen = sizeof *sin6;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), sslen) != 0)
    return make_error("cannot bind the metrics listener to " + std::string(address) + ": " + errno_text(errno));
  if (::listen(fd.get(), 64) != 0) return make_error("listen on " + std::string(address) + ": " + errno_text(errno));
  sockaddr_storage bound{};
  socklen_t blen = sizeof bound;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &blen);
  ListenSocket out;
  out.port_ = ntohs(addr->family == AF_INET ? reinterpret_cast<sockaddr_in*>(&bound)->sin_port
                                             : reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port);
  out.path_ = addr->family == AF_INET ? addr->host + ":" + std::to_string(out.port_)
                                      : "[" + addr->host + "]:" + std::to_string(out.port_);
  out.fd_ = fd.release();
  return out;
}

}  // namespace enospcd::api
