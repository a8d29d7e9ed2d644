#include "app/audit_anchor.hpp"

#include <charconv>
#include <fstream>
#include <optional>
#include <sstream>

#include "json/json.hpp"

namespace cf::app {

namespace {

bool parse_entry(std::string_view text, std::int64_t& entry) {
  return std::from_chars(text.data(), text.data() + text.size(), entry).ec == std::errc() && entry > 0;
}

// "N:SHA256": 1 to 18 digits, a colon, 64 lower-case hex digits.
std::optional<store::AuditHead> head_in_text(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon > 18 || text.size() - colon - 1 != 64) return std::nullopt;
  store::AuditHead h;
  for (char c : text.substr(0, colon))
    if (c < '0' || c > '9') return std::nullopt;
  if (!parse_entry(text.substr(0, colon), h.entry)) return std::nullopt;
  for (char c : text.substr(colon + 1))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  h.hash = std::string(text.substr(colon + 1));
  return h;
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
  store::AuditHead head;
  if (auto text = head_in_text(anchor); text && !std::filesystem::exists(anchor)) {
    head = std::move(*text);
  } else {
    auto in_manifest = head_in_manifest(anchor);
    if (!in_manifest) return in_manifest.error();
    head = std::move(*in_manifest);
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
