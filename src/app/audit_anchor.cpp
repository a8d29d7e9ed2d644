#include "app/audit_anchor.hpp"

#include <charconv>
#include <fstream>
#include <regex>
#include <sstream>

#include "json/json.hpp"

namespace cf::app {

namespace {

bool parse_entry(std::string_view text, std::int64_t& entry) {
  return std::from_chars(text.data(), text.data() + text.size(), entry).ec == std::errc() && entry > 0;
}

Result<store::AuditHead> head_in_manifest(const std::string& manifest) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) return make_error("cannot read the manifest", manifest);
  std::ostringstream text;
  text << in.rdbuf();
  json::Document doc;
  json::ParseError err;
  if (!json::parse(text.str(), doc, err)) return make_error("not a manifest: " + err.message, manifest);
  const json::Value* audit = json::member(doc, "audit");
  const auto entry = json::number_text(json::member(audit, "entry"));
  const auto hash = json::string(json::member(audit, "sha256"));
  store::AuditHead h;
  if (!entry || !hash || !parse_entry(*entry, h.entry))
    return make_error(
        "the manifest names no audit log entry (a run without --state, or before the tool kept one)",
        manifest);
  h.hash = std::string(*hash);
  return h;
}

}  // namespace

Result<AnchorCheck> check_audit_anchor(store::StateStore& st, const std::string& anchor) {
  // "N:SHA256", as the run's log line gives them: a head kept in the journal rather than a manifest.
  static const std::regex kHead("([0-9]{1,18}):([0-9a-f]{64})");
  std::smatch m;
  store::AuditHead head;
  if (std::regex_match(anchor, m, kHead) && !std::filesystem::exists(anchor) &&
      parse_entry(m.str(1), head.entry)) {
    head.hash = m.str(2);
  } else {
    auto h = head_in_manifest(anchor);
    if (!h) return h.error();
    head = std::move(*h);
  }
  AnchorCheck c;
  c.entry = head.entry;
  auto stored = st.audit_hash_at(head.entry);
  if (!stored) return stored.error();
  if (!*stored)
    c.why = "entry " + std::to_string(c.entry) + " is not in the log: entries were removed since that run";
  else if (**stored != head.hash)
    c.why = "entry " + std::to_string(c.entry) +
            " has another hash than when that run ended: the log was changed, or the anchor is of another "
            "state folder";
  else
    c.holds = true;
  return c;
}

}  // namespace cf::app
