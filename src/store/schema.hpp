#pragma once
#include "store/sqlite.hpp"

namespace cf::store {

int schema_version();
// Brings the database to schema_version(); refuses a database newer than this tool.
Status migrate(Db& db);

}  // namespace cf::store
