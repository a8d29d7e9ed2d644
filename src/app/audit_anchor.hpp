#pragma once
// RELIABILITY H6: the audit log's hash chain shows an entry changed or removed in the middle, but not the
// newest entries removed (what is left is still a valid chain). Each run with a state folder writes the log's
// head after its own entries into manifest.json and its log ("log head: entry N, sha256 H"), both of which
// can be kept away from the store (an archive of manifests, the systemd journal); this checks the store's log
// against such a copy.
#include <filesystem>
#include <string>

#include "core/result.hpp"
#include "store/state_store.hpp"

namespace cf::app {

struct AnchorCheck {
  std::int64_t entry = 0;  // the entry the anchor names
  bool holds = false;      // the log still has that entry, with that hash
  std::string why;         // when it does not
};

// `anchor` is a run's manifest.json, or "N:SHA256" as the run's log line gives them. An error when it cannot
// be read or names no audit head (a run without --state); otherwise whether the log still has the entry it
// names, with the same hash.
Result<AnchorCheck> check_audit_anchor(store::StateStore& st, const std::string& anchor);

}  // namespace cf::app
