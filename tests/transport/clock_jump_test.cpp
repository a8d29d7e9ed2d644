// RELIABILITY S8: timeouts and backoff run on the monotonic clock, so a step of the wall clock (NTP, an
// operator) neither fires them early nor holds them back. These cases run only under libfaketime (the CTest
// transport_clock_jumps): the wall clock is stepped by rewriting FAKETIME_TIMESTAMP_FILE while a request is
// under way, and the monotonic clock is left alone (DONT_FAKE_MONOTONIC=1). In the ordinary run they are
// disabled, as nothing would step.
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "fault-server/fault_server.hpp"
#include "test_support.hpp"

using namespace cf::transport;
using namespace cf::transport::test;
using cf::testing::FaultServer;
using std::chrono::steady_clock;
using std::chrono::system_clock;

namespace {

// Sets the faked wall clock's offset from the real one ("+0", "+2h", "-2h").
void set_wall_offset(const char* offset) {
  const char* file = std::getenv("FAKETIME_TIMESTAMP_FILE");
  BOOST_REQUIRE_MESSAGE(file, "FAKETIME_TIMESTAMP_FILE is not set: run these cases under libfaketime");
  std::ofstream(file, std::ios::trunc) << offset << "\n";
}

// Steps the wall clock to `offset` after `after`, on its own thread; back to "+0" when destroyed.
class StepLater {
 public:
  StepLater(std::chrono::milliseconds after, const char* offset)
      : thread_([after, offset] {
          std::this_thread::sleep_for(after);
          set_wall_offset(offset);
        }) {}
  ~StepLater() {
    thread_.join();
    set_wall_offset("+0");
  }

 private:
  std::thread thread_;
};

struct Clocks {
  system_clock::time_point wall = system_clock::now();
  steady_clock::time_point mono = steady_clock::now();
  double seconds() const { return std::chrono::duration<double>(steady_clock::now() - mono).count(); }
  // How far the wall clock moved beyond the monotonic one since construction.
  double wall_step_hours() const {
    const auto wall_moved = system_clock::now() - wall;
    const auto mono_moved = steady_clock::now() - mono;
    return std::chrono::duration<double>(wall_moved - mono_moved).count() / 3600.0;
  }
};

// Runs before the fault server is started (a base is constructed before the members of the class deriving
// from it; a constructor body would run only after them).
struct RealClockForChildren {
  RealClockForChildren() {
    set_wall_offset("+0");
    // The fault server (Node.js) keeps the real clock. libfaketime also shares one named semaphore with every
    // child that loads it (FAKETIME_SHARED): a child killed while holding it would hang this process's next
    // stat() for good, which is how CI once timed out here.
    ::unsetenv("LD_PRELOAD");
    ::unsetenv("FAKETIME_SHARED");
  }
};

struct Server : RealClockForChildren {
  FaultServer server;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(clock_jumps, *boost::unit_test::disabled())

BOOST_FIXTURE_TEST_CASE(a_forward_step_fires_no_timeout_early, Server) {
  auto o = fast_options();
  o.read_timeout = 3s;
  o.total_timeout = 5s;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  Clocks start;
  cf::Result<Response> r = cf::make_error("not sent");
  {
    StepLater step(300ms, "+2h");
    r = get(*client, server.url("/delay/1500"));
    BOOST_REQUIRE_MESSAGE(start.wall_step_hours() > 1.9,
                          "the wall clock did not step: libfaketime is not active");
  }
  BOOST_TEST(expect_response(std::move(r)).status == 200);
  BOOST_TEST(start.seconds() >= 1.4);
}

BOOST_FIXTURE_TEST_CASE(a_backward_step_does_not_hold_a_timeout_back, Server) {
  auto o = fast_options();
  o.read_timeout = 1s;
  o.retry.max_attempts = 1;
  auto client = make_client(o);
  Clocks start;
  std::string error;
  {
    StepLater step(300ms, "-2h");
    error = expect_error(get(*client, server.url("/silent")));
    BOOST_REQUIRE_MESSAGE(start.wall_step_hours() < -1.9,
                          "the wall clock did not step: libfaketime is not active");
  }
  BOOST_TEST(contains(error, "no data for 1000 ms"), error);
  BOOST_TEST(start.seconds() >= 0.95);
  BOOST_TEST(start.seconds() < 3.0);
}

// A wait until a wall-clock instant would, after a backward step, sleep for the hours the clock went back.
BOOST_FIXTURE_TEST_CASE(a_retry_after_wait_lasts_its_time_across_a_backward_step, Server) {
  auto o = fast_options();
  o.retry.min_retry_after = 1ms;
  auto client = make_client(o);
  Clocks start;
  cf::Result<Response> r = cf::make_error("not sent");
  {
    StepLater step(300ms, "-2h");  // during the 1 s the server asked for
    r = get(*client, server.url("/retry-after-seconds/1?ra=1"));
    BOOST_REQUIRE_MESSAGE(start.wall_step_hours() < -1.9,
                          "the wall clock did not step: libfaketime is not active");
  }
  BOOST_TEST(expect_response(std::move(r)).status == 200);
  BOOST_TEST(start.seconds() >= 0.95);
  BOOST_TEST(start.seconds() < 3.0);
  BOOST_TEST(server.count("/retry-after-seconds/1?ra=1") == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
