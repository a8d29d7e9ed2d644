#include "store/sqlite.hpp"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

namespace cf::store {

Result<std::unique_ptr<Db>> Db::open(const std::string& path) {
  // Create the file 0600 ourselves: SQLite would use the umask (and its -wal/-shm files inherit our mode).
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error(std::string("cannot create the state database: ") + std::strerror(errno), path);
  ::close(fd);
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error("cannot open the state database: " + msg, path);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<Db> out(new Db(db, path));
  // secure_delete (RELIABILITY H9): deleted rows (resources the server deleted, pruned results lines) are
  // overwritten with zeros instead of lingering in free pages. Debian's build has it on by default; other
  // builds may not.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                             "PRAGMA secure_delete=ON"}) {
    auto st = out->exec(pragma);
    if (!st) return st.error();
  }
  return out;
}

Db::~Db() {
  sqlite3_close(db_);
}

std::string Db::error() const {
  return sqlite3_errmsg(db_);
}

Status Db::exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  if (sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return make_error(msg, path_ + ": " + s.substr(0, 60));
  }
  return Status::success();
}

Statement::Statement(Db& db, std::string_view sql) : db_(db), sql_(sql) {
  if (sqlite3_prepare_v2(db.handle(), sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, nullptr) !=
      SQLITE_OK) {
    error_ = db.error();
    stmt_ = nullptr;
  }
}

Statement::~Statement() {
  sqlite3_finalize(stmt_);
}

Statement& Statement::bind(int i, std::string_view text) {
  if (stmt_) sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}
Statement& Statement::bind(int i, std::int64_t v) {
  if (stmt_) sqlite3_bind_int64(stmt_, i, v);
  return *this;
}
Statement& Statement::bind(int i, double v) {
  if (stmt_) sqlite3_bind_double(stmt_, i, v);
  return *this;
}
Statement& Statement::bind_null(int i) {
  if (stmt_) sqlite3_bind_null(stmt_, i);
  return *this;
}

bool Statement::step() {
  if (!stmt_) return false;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) error_ = db_.error();
  return false;
}

Status Statement::status() const {
  if (error_.empty()) return Status::success();
  return make_error(error_, db_.path() + ": " + sql_.substr(0, 60));
}

std::string Statement::text(int c) const {
  const unsigned char* t = sqlite3_column_text(stmt_, c);
  return t ? std::string(reinterpret_cast<const char*>(t),
                         static_cast<std::size_t>(sqlite3_column_bytes(stmt_, c)))
           : std::string();
}
std::int64_t Statement::integer(int c) const {
  return sqlite3_column_int64(stmt_, c);
}
double Statement::real(int c) const {
  return sqlite3_column_double(stmt_, c);
}
bool Statement::is_null(int c) const {
  return sqlite3_column_type(stmt_, c) == SQLITE_NULL;
}

Status Statement::run() {
  while (step()) {
  }
  return status();
}

Transaction::Transaction(Db& db) : db_(db), begun_(db.exec("BEGIN IMMEDIATE")) {}

Transaction::~Transaction() {
  if (begun_ && !done_) (void)db_.exec("ROLLBACK");
}

Status Transaction::commit() {
  if (!begun_) return begun_;
  auto st = db_.exec("COMMIT");
  if (st) done_ = true;
  return st;
}

}  // namespace cf::store
