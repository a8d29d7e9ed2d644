// Kleene three-valued combinators (and, or, not, at least N), manual and review nodes.
#include <algorithm>

#include "criteria/nodes.hpp"

namespace cf::criteria {

namespace {

NodeResult combine(std::vector<NodeResult>& rs, Tri value, Tri pick) {
  NodeResult out;
  out.value = value;
  std::size_t n_evidence = 0;
  for (const auto& r : rs)
    if (r.value == pick) n_evidence += r.evidence.size();
  out.evidence.reserve(n_evidence);
  // Distinct, in order (pointing into `rs`, not copied). One per thread, keeping its capacity: this runs some
  // 60 times per patient, and nothing it calls combines again.
  thread_local std::vector<const std::string*> reasons;
  reasons.clear();
  for (auto& r : rs) {
    if (r.value != pick) continue;
    if (r.value == Tri::unknown && r.data_gap) out.data_gap = true;
    if (!r.reason.empty() &&
        std::none_of(reasons.begin(), reasons.end(), [&](const std::string* s) { return *s == r.reason; }))
      reasons.push_back(&r.reason);
    for (auto& e : r.evidence) out.evidence.push_back(std::move(e));
  }
  std::size_t length = reasons.empty() ? 0 : 2 * (reasons.size() - 1);
  for (const std::string* r : reasons) length += r->size();
  out.reason.reserve(length);  // one allocation, not one per growth
  for (std::size_t i = 0; i < reasons.size(); ++i) {
    if (i) out.reason += "; ";
    out.reason += *reasons[i];
  }
  return out;
}

std::vector<NodeResult> eval_all(const std::vector<NodePtr>& kids, Context& ctx) {
  std::vector<NodeResult> rs;
  rs.reserve(kids.size());
  for (const auto& k : kids) rs.push_back(k->eval(ctx));
  return rs;
}

int count(const std::vector<NodeResult>& rs, Tri v) {
  return static_cast<int>(
      std::count_if(rs.begin(), rs.end(), [&](const NodeResult& r) { return r.value == v; }));
}

class All : public Node {
 public:
  explicit All(std::vector<NodePtr> k) : kids_(std::move(k)) {}
  NodeResult eval(Context& ctx) const override {
    auto rs = eval_all(kids_, ctx);
    if (count(rs, Tri::not_met)) return combine(rs, Tri::not_met, Tri::not_met);
    if (count(rs, Tri::met) == static_cast<int>(rs.size())) return combine(rs, Tri::met, Tri::met);
    return combine(rs, Tri::unknown, Tri::unknown);
  }

 private:
  std::vector<NodePtr> kids_;
};

class Any : public Node {
 public:
  explicit Any(std::vector<NodePtr> k) : kids_(std::move(k)) {}
  NodeResult eval(Context& ctx) const override {
    auto rs = eval_all(kids_, ctx);
    if (count(rs, Tri::met)) return combine(rs, Tri::met, Tri::met);
    if (count(rs, Tri::not_met) == static_cast<int>(rs.size()))
      return combine(rs, Tri::not_met, Tri::not_met);
    return combine(rs, Tri::unknown, Tri::unknown);
  }

 private:
  std::vector<NodePtr> kids_;
};

class AtLeast : public Node {
 public:
  AtLeast(int n, std::vector<NodePtr> k) : n_(n), kids_(std::move(k)) {}
  NodeResult eval(Context& ctx) const override {
    auto rs = eval_all(kids_, ctx);
    const int yes = count(rs, Tri::met), maybe = count(rs, Tri::unknown);
    if (yes >= n_) return combine(rs, Tri::met, Tri::met);
    if (yes + maybe < n_) {
      auto r = combine(rs, Tri::not_met, Tri::not_met);
      r.reason = std::to_string(yes) + " of at least " + std::to_string(n_) + " met; " + r.reason;
      return r;
    }
    return combine(rs, Tri::unknown, Tri::unknown);
  }

 private:
  int n_;
  std::vector<NodePtr> kids_;
};

class Not : public Node {
 public:
  explicit Not(NodePtr k) : kid_(std::move(k)) {}
  NodeResult eval(Context& ctx) const override {
    NodeResult r = kid_->eval(ctx);
    if (r.value == Tri::met)
      r.value = Tri::not_met;
    else if (r.value == Tri::not_met)
      r.value = Tri::met;
    return r;
  }

 private:
  NodePtr kid_;
};

class Manual : public Node {
 public:
  explicit Manual(std::string why) : why_(std::move(why)) {}
  NodeResult eval(Context&) const override { return NodeResult::manual(why_); }

 private:
  std::string why_;
};

class Review : public Node {
 public:
  Review(NodePtr when, std::string why) : when_(std::move(when)), why_(std::move(why)) {}
  NodeResult eval(Context& ctx) const override {
    NodeResult r = when_->eval(ctx);
    if (r.value == Tri::met) {
      r.value = Tri::unknown;
      r.data_gap = true;
      r.reason = "to confirm: " + why_ + " (" + r.reason + ")";
    }
    return r;
  }

 private:
  NodePtr when_;
  std::string why_;
};

}  // namespace

NodePtr make_all(std::vector<NodePtr> k) {
  return std::make_shared<All>(std::move(k));
}
NodePtr make_any(std::vector<NodePtr> k) {
  return std::make_shared<Any>(std::move(k));
}
NodePtr make_not(NodePtr k) {
  return std::make_shared<Not>(std::move(k));
}
NodePtr make_at_least(int n, std::vector<NodePtr> k) {
  return std::make_shared<AtLeast>(n, std::move(k));
}
NodePtr make_manual(std::string why) {
  return std::make_shared<Manual>(std::move(why));
}
NodePtr make_review(NodePtr when, std::string why) {
  return std::make_shared<Review>(std::move(when), std::move(why));
}

}  // namespace cf::criteria
