#include "app/audit_anchor.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

#include "json/json.hpp"

namespace cf::app {

Result<AnchorCheck> check_audit_anchor(store::StateStore& st, const std::filesystem::path& manifest) {
  std::ifstream in(manifest, std::ios::binary);
  if (!in) return make_error("cannot read the manifest", manifest.string());
  std::ostringstream text;
  text << in.rdbuf();
  json::Document doc;
  json::ParseError err;
  if (!json::parse(text.str(), doc, err))
    return make_error("not a manifest: " + err.message, manifest.string());
  const json::Value* audit = json::member(doc, "audit");
  const auto entry_text = json::number_text(json::member(audit, "entry"));
  const auto hash = json::string(json::member(audit, "sha256"));
  AnchorCheck c;
  if (!entry_text || !hash ||
      std::from_chars(entry_text->data(), entry_text->data() + entry_text->size(), c.entry).ec !=
          std::errc() ||
      c.entry <= 0)
    return make_error(
        "the manifest names no audit log entry (a run without --state, or before the tool kept one)",
        manifest.string());
  auto stored = st.audit_hash_at(c.entry);
  if (!stored) return stored.error();
  if (!*stored)
    c.why = "entry " + std::to_string(c.entry) + " is not in the log: entries were removed since that run";
  else if (**stored != *hash)
    c.why = "entry " + std::to_string(c.entry) +
            " has another hash than when that run ended: the log was changed, or the manifest is of another "
            "state folder";
  else
    c.holds = true;
  return c;
}

}  // namespace cf::app
