#include "cli/client.h"

#include <curl/curl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <nlohmann/json.hpp>

namespace enospcd::cli {
namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensure_curl() { static CurlGlobal global; }

using CurlPtr = std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>;

size_t collect(char* data, size_t size, size_t n, void* cls) {
  static_cast<std::string*>(cls)->append(data, size * n);
  return size * n;
}

std::string group_of_directory(const std::string& socket_path) {
  size_t slash = socket_path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : socket_path.substr(0, slash));
  struct stat st{};
  if (::stat(dir.c_str(), &st) != 0 || st.st_gid == 0) return "";
  group gr{};
  group* found = nullptr;
  char buf[4096];
  if (::getgrgid_r(st.st_gid, &gr, buf, sizeof buf, &found) == 0 && found != nullptr) return found->gr_name;
  return std::to_string(st.st_gid);
}

struct StreamState {
  std::string buffer;
  const std::function<void()>* on_open = nullptr;
  bool opened = false;
  const std::function<bool(std::string_view)>* on_line = nullptr;
  const std::atomic<bool>* stop = nullptr;
  long status = 0;
  CURL* curl = nullptr;
  std::string error_body;
  bool stopped = false;
};

size_t stream_write(char* data, size_t size, size_t n, void* cls) {
  auto* st = static_cast<StreamState*>(cls);
  size_t len = size * n;
  if (st->status == 0) curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->status);
  if (st->status < 200 || st->status >= 300) {
    if (st->error_body.size() < 65536) st->error_body.append(data, len);
    return len;
  }
  st->buffer.append(data, len);
  size_t start = 0;
  for (;;) {
    size_t nl = st->buffer.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(st->buffer.data() + start, nl - start);
    start = nl + 1;
    if (!(*st->on_line)(line)) {
      st->stopped = true;
      return 0;  // aborts the transfer
    }
  }
  st->buffer.erase(0, start);
  return len;
}

// The blank line that ends the headers: the stream is open if the status is a success.
size_t stream_header(char* data, size_t size, size_t n, void* cls) {
  auto* st = static_cast<StreamState*>(cls);
  size_t len = size * n;
  std::string_view line(data, len);
  if (line == "\r\n" || line == "\n") {
    curl_easy_getinfo(st->curl, CURLINFO_RESPONSE_CODE, &st->status);
    if (st->status >= 200 && st->status < 300 && !st->opened) {
      st->opened = true;
      if (st->on_open != nullptr && *st->on_open) (*st->on_open)();
    }
  }
  return len;
}

int stream_progress(void* cls, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<StreamState*>(cls);
  if (st->stop != nullptr && st->stop->load()) {
    st->stopped = true;
    return 1;
  }
  return 0;
}

// Who serves the socket, checked before a byte is sent: root, or the user running enospcctl (a daemon of its
// own). Anyone else serving there took the socket's place, and would be believed. The socket is libcurl's,
// made by open_socket so that its descriptor is known; the check runs once it is connected (prereq).
struct PeerCheck {
  std::string path;
  std::string refused;  // why the server was refused; empty when it was not
  curl_socket_t fd = CURL_SOCKET_BAD;
};

curl_socket_t open_socket(void* cls, curlsocktype, curl_sockaddr* addr) {
  auto* pc = static_cast<PeerCheck*>(cls);
  pc->fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  return pc->fd < 0 ? CURL_SOCKET_BAD : pc->fd;
}

int check_server(void* cls, char*, char*, int, int) {
  auto* pc = static_cast<PeerCheck*>(cls);
  ucred cred{};
  socklen_t len = sizeof cred;
  if (pc->fd == CURL_SOCKET_BAD || ::getsockopt(pc->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    pc->refused = "cannot tell who serves " + pc->path + " (SO_PEERCRED: " + std::strerror(errno) + ")";
    return CURL_PREREQFUNC_ABORT;
  }
  if (cred.uid != 0 && cred.uid != ::geteuid()) {
    pc->refused = "refusing to talk to " + pc->path + ": it is served by uid " + std::to_string(cred.uid) + " (pid " +
                  std::to_string(cred.pid) + "), not by root; something else has taken the socket's place";
    return CURL_PREREQFUNC_ABORT;
  }
  return CURL_PREREQFUNC_OK;
}

void set_unix_socket(CURL* curl, const std::string& path, PeerCheck* check) {
  check->path = path;
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, path.c_str());
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &open_socket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, check);
  curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, &check_server);
  curl_easy_setopt(curl, CURLOPT_PREREQDATA, check);
}

}  // namespace

Client::Client(std::string socket_path) : socket_path_(std::move(socket_path)) { ensure_curl(); }

std::string Client::connect_failure() const {
  struct stat st{};
  if (::stat(socket_path_.c_str(), &st) == 0 && !S_ISSOCK(st.st_mode))
    return socket_path_ + " is not a socket (check --socket)";
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof sa.sun_path) return "socket path " + socket_path_ + " is too long";
  std::memcpy(sa.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("cannot create a socket: ") + std::strerror(errno);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  int err = errno;
  ::close(fd);
  if (rc == 0) return "cannot talk to enospcd at " + socket_path_ + " (it accepted the connection, then failed)";
  switch (err) {
    case ENOENT:
      return "enospcd is not running (no socket at " + socket_path_ + ")";
    case ECONNREFUSED:
      return "enospcd is not running (" + socket_path_ + " is a stale socket nobody listens on)";
    case EACCES:
    case EPERM: {
      std::string group = group_of_directory(socket_path_);
      return "permission denied on " + socket_path_ +
             (group.empty() ? ": only root may query enospcd"
                            : ": run as root or as a member of group '" + group + "'");
    }
    case ENOTDIR:
    case ENOTSOCK:
      return socket_path_ + " is not a socket (check --socket)";
    default:
      return "cannot connect to enospcd at " + socket_path_ + ": " + std::strerror(err);
  }
}

Result<HttpAnswer> Client::request(const std::string& target, bool post) {
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return make_error("cannot initialise libcurl");
  HttpAnswer answer;
  const std::string url = "http://localhost" + target;
  PeerCheck check;
  set_unix_socket(curl.get(), socket_path_, &check);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &answer.body);
  if (post) {
    curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, 0L);
  }
  CURLcode rc = curl_easy_perform(curl.get());
  if (!check.refused.empty()) return make_error(check.refused);
  if (rc == CURLE_COULDNT_CONNECT) return make_error(connect_failure());
  if (rc != CURLE_OK)
    return make_error("request to enospcd at " + socket_path_ + " failed: " + curl_easy_strerror(rc));
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &answer.status);
  char* ct = nullptr;
  if (curl_easy_getinfo(curl.get(), CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != nullptr) answer.content_type = ct;
  return answer;
}

Result<HttpAnswer> Client::get(const std::string& target) { return request(target, false); }
Result<HttpAnswer> Client::post(const std::string& target) { return request(target, true); }

Result<long> Client::stream_lines(const std::string& target, const std::function<void()>& on_open,
                                  const std::function<bool(std::string_view)>& on_line, const std::atomic<bool>* stop,
                                  std::string* error_body) {
  CurlPtr curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return make_error("cannot initialise libcurl");
  StreamState st;
  st.on_line = &on_line;
  st.on_open = &on_open;
  st.stop = stop;
  st.curl = curl.get();
  const std::string url = "http://localhost" + target;
  PeerCheck check;
  set_unix_socket(curl.get(), socket_path_, &check);
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &stream_write);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERFUNCTION, &stream_header);
  curl_easy_setopt(curl.get(), CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(curl.get(), CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFOFUNCTION, &stream_progress);
  curl_easy_setopt(curl.get(), CURLOPT_XFERINFODATA, &st);
  CURLcode rc = curl_easy_perform(curl.get());
  if (st.status == 0) curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &st.status);
  if (st.stopped) return st.status;
  if (!check.refused.empty()) return make_error(check.refused);
  if (rc == CURLE_COULDNT_CONNECT) return make_error(connect_failure());
  if (rc != CURLE_OK) {
    if (st.status >= 200 && st.status < 300)
      return make_error("enospcd ended the event stream (" + std::string(curl_easy_strerror(rc)) + ")");
    return make_error("request to enospcd at " + socket_path_ + " failed: " + curl_easy_strerror(rc));
  }
  if (!st.buffer.empty()) on_line(st.buffer);
  if (error_body != nullptr) *error_body = std::move(st.error_body);
  return st.status;
}

std::string error_message(const HttpAnswer& answer) {
  auto j = nlohmann::json::parse(answer.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  return "enospcd answered HTTP " + std::to_string(answer.status);
}

std::string url_escape(std::string_view value) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : value) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace enospcd::cli
