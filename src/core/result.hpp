#pragma once
// Expected failures as values (STYLE.md practice 2). An Error carries a message a user can act on and the
// context it happened in (which file, which server, which resource).
#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace cf {

struct Error {
  std::string message;
  std::string context;  // e.g. "fhir-samples/patients.ndjson:12" or "GET https://ehr.example/fhir/Patient"

  std::string what() const { return context.empty() ? message : context + ": " + message; }
};

inline Error make_error(std::string message, std::string context = {}) {
  return Error{std::move(message), std::move(context)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status success() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace cf
