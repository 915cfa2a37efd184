// The stored form of an event: one byte string of varints, with the text that repeats from event to event
// (kernel function names, comms, syscalls, remedies, evidence) kept once in a string pool and referred to by
// index. A full default history of 10 000 events takes a few MB this way instead of ~22 MB as Event structs.
// The field list is written once (a template that both packs and unpacks), so the two cannot drift apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <deque>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/event.h"

namespace enospcd {

// Interned strings, never freed: bounded by max_bytes, past which new strings are stored inline in each event
// (hostile or endlessly varied text cannot grow it without bound).
class StringPool {
 public:
  explicit StringPool(std::size_t max_bytes = 4u << 20) : max_bytes_(max_bytes) {}
  std::size_t size() const;
  std::size_t bytes() const;
  // Whether a string was refused for want of room: a store then starts a new pool for the events that follow
  // (this one lives on while stored events refer to it).
  bool full() const;

 private:
  // The index of s, adding it while there is room; -1 when the pool is full and s is not in it. With mu_ held.
  int64_t intern(std::string_view s);

 private:
  friend std::string pack_event(const Event& e, StringPool& pool);
  friend Event unpack_event(std::string_view bytes, const StringPool& pool);

  std::size_t max_bytes_, bytes_ = 0;
  bool refused_ = false;
  mutable std::shared_mutex mu_;  // held once per event packed (unique) or unpacked (shared)
  std::deque<std::string> strings_;  // a deque: growing it moves no string, so the views below stay valid
  std::unordered_map<std::string_view, uint32_t> index_;
};

// The event, less what only symbolization needs (the raw stack addresses), as bytes; and back. unpack throws
// std::runtime_error on bytes it did not write.
std::string pack_event(const Event& e, StringPool& pool);
Event unpack_event(std::string_view bytes, const StringPool& pool);

}  // namespace enospcd
