#pragma once
// HTTP over the daemon's AF_UNIX socket (libcurl, CURLOPT_UNIX_SOCKET_PATH), with failures turned into one
// sentence an operator can act on.

#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace enospcd::cli {

struct HttpAnswer {
  long status = 0;
  std::string content_type;
  std::string body;
};

class Client {
 public:
  explicit Client(std::string socket_path);

  // target: path and query, e.g. "/v1/events?limit=5". Only transport failures are errors; HTTP errors are
  // answers (see error_message()).
  Result<HttpAnswer> get(const std::string& target);
  Result<HttpAnswer> post(const std::string& target);

  // Reads a streaming answer line by line (without the newline) until the server ends it, on_line returns
  // false or *stop becomes true. on_open runs once the server has accepted the stream (2xx headers).
  // Returns the HTTP status; a non-2xx answer's body is returned in *error_body.
  Result<long> stream_lines(const std::string& target, const std::function<void()>& on_open,
                            const std::function<bool(std::string_view)>& on_line, const std::atomic<bool>* stop,
                            std::string* error_body);

  const std::string& socket_path() const { return socket_path_; }

 private:
  Result<HttpAnswer> request(const std::string& target, bool post);
  // Why connecting failed, from a connect(2) of our own: "enospcd is not running (no socket at ...)".
  std::string connect_failure() const;

  std::string socket_path_;
};

// The sentence for an HTTP error answer: the server's {"error": ...} message, or the status.
std::string error_message(const HttpAnswer& answer);

// Percent-encoding for query values.
std::string url_escape(std::string_view value);

}  // namespace enospcd::cli
