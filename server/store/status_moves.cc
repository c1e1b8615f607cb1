#include "server/store/status_moves.h"

namespace docgate::store {
namespace {

struct Move {
  DocStatus from;
  DocStatus to;
};

constexpr Move kAllowedMoves[] = {
    {DocStatus::kPending, DocStatus::kProcessing}, {DocStatus::kProcessing, DocStatus::kCompleted},
    {DocStatus::kProcessing, DocStatus::kFailed},  {DocStatus::kProcessing, DocStatus::kPending},
    {DocStatus::kFailed, DocStatus::kPending},
};

}  // namespace

const char* StatusName(DocStatus status) {
  switch (status) {
    case DocStatus::kPending: return "PENDING";
    case DocStatus::kProcessing: return "PROCESSING";
    case DocStatus::kCompleted: return "COMPLETED";
    case DocStatus::kFailed: return "FAILED";
    default: return "UNSPECIFIED";
  }
}

bool IsAllowedMove(DocStatus from, DocStatus to) {
  for (const auto& m : kAllowedMoves) {
    if (m.from == from && m.to == to) return true;
  }
  return false;
}

std::vector<DocStatus> AllowedSources(DocStatus to) {
  std::vector<DocStatus> out;
  for (const auto& m : kAllowedMoves) {
    if (m.to == to) out.push_back(m.from);
  }
  return out;
}

}  // namespace docgate::store
