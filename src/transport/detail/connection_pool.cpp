#include "transport/detail/connection_pool.hpp"

#include "transport/detail/connection.hpp"

namespace cf::transport::detail {

ConnectionPool::ConnectionPool(std::size_t max_per_origin, std::chrono::milliseconds idle_timeout)
    : max_per_origin_(max_per_origin), idle_timeout_(idle_timeout) {}

ConnectionPool::~ConnectionPool() = default;

std::optional<ConnectionPool::Lease> ConnectionPool::acquire(const std::string& origin,
                                                             const Deadline& deadline, bool fresh) {
  // Connections are closed under the lock, before their slot is reused, so the number of open sockets per
  // origin never exceeds the limit even for a moment.
  std::unique_lock lock(mutex_);
  Origin& o = origins_[origin];
  while (true) {
    // Drop idle connections the server has closed or that idled too long: a request on them would fail.
    for (auto it = o.idle.begin(); it != o.idle.end();) {
      const bool expired = Deadline::clock::now() - (*it)->idle_since() > idle_timeout_;
      if (expired || !(*it)->looks_alive()) {
        it = o.idle.erase(it);
        --o.live;
      } else {
        ++it;
      }
    }
    if (!fresh && !o.idle.empty()) {
      Lease lease{std::move(o.idle.back())};
      o.idle.pop_back();
      return lease;
    }
    if (o.live < max_per_origin_) {
      ++o.live;
      return Lease{};
    }
    if (fresh && !o.idle.empty()) {  // hand the idle connection's slot to the new one
      o.idle.erase(o.idle.begin());
      return Lease{};
    }
    if (changed_.wait_until(lock, deadline.at()) == std::cv_status::timeout) return std::nullopt;
  }
}

void ConnectionPool::release(const std::string& origin, std::unique_ptr<Connection> connection) {
  {
    std::lock_guard lock(mutex_);
    Origin& o = origins_[origin];
    if (connection) {
      connection->mark_idle();
      o.idle.push_back(std::move(connection));
    } else {
      --o.live;
    }
  }
  changed_.notify_all();
}

}  // namespace cf::transport::detail
