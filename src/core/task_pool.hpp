#pragma once
// A fixed set of threads that run submitted tasks in the order they were submitted. std::async starts a
// thread per call; with one call per 2 MB of input that was thousands of threads a night, each starting
// with an empty allocator cache and handing it back at exit (a tenth of the CPU time under tcmalloc).
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace cf {

class TaskPool {
 public:
  explicit TaskPool(std::size_t threads);
  // Runs what is still queued, then joins the threads.
  ~TaskPool();
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // The future holds the task's result or its exception.
  template <class F>
  std::future<std::invoke_result_t<F>> submit(F f) {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    std::future<R> result = task->get_future();
    enqueue([task] { (*task)(); });
    return result;
  }

 private:
  void enqueue(std::function<void()> job);
  void work();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cf
