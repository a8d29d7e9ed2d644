#define BOOST_TEST_MODULE hardening
#include <boost/test/unit_test.hpp>

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "cli/hardening.hpp"

BOOST_AUTO_TEST_CASE(core_dumps_off_not_dumpable_private_umask) {
  ::umask(022);
  BOOST_REQUIRE_EQUAL(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);  // the default, so the test can fail
  const auto warnings = cf::cli::harden_process();
  BOOST_TEST(warnings.empty());
  rlimit core{};
  BOOST_REQUIRE_EQUAL(::getrlimit(RLIMIT_CORE, &core), 0);
  BOOST_TEST(core.rlim_cur == 0u);
  BOOST_TEST(core.rlim_max == 0u);
  BOOST_TEST(::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
  const mode_t previous = ::umask(0);
  BOOST_TEST(previous == mode_t{077});
}
