#pragma once
// Keep-alive connections per origin, at most max_connections live (idle + in use) per origin (T12).
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "transport/detail/deadline.hpp"

namespace cf::transport::detail {

class Connection;

class ConnectionPool {
 public:
  ConnectionPool(std::size_t max_per_origin, std::chrono::milliseconds idle_timeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A pooled connection, or null: the slot is reserved and the caller opens a new connection.
  struct Lease {
    std::unique_ptr<Connection> connection;
  };
  // Waits for an idle connection or a free slot; nullopt when the deadline passes first. With `fresh`, idle
  // connections are not reused (one is closed if that is needed to free a slot).
  std::optional<Lease> acquire(const std::string& origin, const Deadline& deadline, bool fresh);
  // Gives a kept-alive connection back, or frees the slot when `connection` is null. Close a broken
  // connection before releasing its slot, so the count of open sockets never exceeds the limit.
  void release(const std::string& origin, std::unique_ptr<Connection> connection);

 private:
  struct Origin {
    std::vector<std::unique_ptr<Connection>> idle;  // most recently used last
    std::size_t live = 0;
  };

  const std::size_t max_per_origin_;
  const std::chrono::milliseconds idle_timeout_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Origin> origins_;
};

}  // namespace cf::transport::detail
