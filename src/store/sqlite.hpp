#pragma once
// A thin RAII layer over the SQLite C API: the only place that includes sqlite3.h. Errors are values that
// carry SQLite's message and the statement's purpose.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace cf::store {

class Db {
 public:
  // Opens (creating with mode 0600) in WAL mode with synchronous=FULL and foreign keys on.
  static Result<std::unique_ptr<Db>> open(const std::string& path);
  ~Db();
  Status exec(std::string_view sql);
  sqlite3* handle() const { return db_; }
  std::string error() const;
  std::string path() const { return path_; }

 private:
  Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

class Statement {
 public:
  Statement(Db& db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return stmt_ != nullptr; }
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, double value);
  Statement& bind_null(int index);
  // Steps once: true when a row is available; false at the end or on error (see status()).
  bool step();
  Status status() const;  // error of the last step, if any
  std::string text(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;
  bool is_null(int column) const;
  // Runs to completion (for INSERT/UPDATE/DELETE).
  Status run();

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
  std::string error_;
};

// Rolls back unless commit() succeeded (STYLE.md practice 13).
class Transaction {
 public:
  explicit Transaction(Db& db);
  ~Transaction();
  Status begun() const { return begun_; }
  Status commit();

 private:
  Db& db_;
  Status begun_;
  bool done_ = false;
};

}  // namespace cf::store
