#pragma once
// Test hook for durability tests (RELIABILITY S-items): when the environment variable COHORT_CRASH_AT names
// this point, the process kills itself with SIGKILL right here, exactly as a power cut or OOM kill would.
namespace cf {

void crash_point(const char* name);

}  // namespace cf
