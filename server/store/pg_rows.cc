#include "server/store/pg_rows.h"

#include <pqxx/binarystring>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "server/store/attributes_json.h"
#include "server/store/consistency_token.h"

namespace docgate::store {

// The ids in a string_agg(id::text, ',') ('' for none).
std::vector<std::string> SplitIds(const std::string& ids) {
  std::vector<std::string> out;
  for (size_t start = 0; start < ids.size();) {
    const size_t comma = std::min(ids.find(',', start), ids.size());
    out.push_back(ids.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

namespace {

uint64_t LsnOf(const pqxx::field& field) {
  const auto lsn = ParseLsn(field.as<std::string>());
  if (!lsn.has_value()) throw std::runtime_error("unexpected WAL position text");
  return *lsn;
}

}  // namespace

uint64_t WalPosition(pqxx::nontransaction& tx) { return LsnOf(tx.exec_prepared1(kWalPosition)[0]); }

WritePosition CommitPosition(pqxx::nontransaction& tx, WritePosition mark) {
  const pqxx::row row = tx.exec_prepared1(kWalPosition);
  mark.lsn = LsnOf(row[0]);
  mark.timeline = static_cast<uint32_t>(row[1].as<int64_t>());
  return mark;
}

WritePosition MarkOf(const pqxx::row& row) {
  WritePosition mark;
  const auto n = row.size();
  mark.xid = row[n - 2].as<uint64_t>();
  mark.before_commit = LsnOf(row[n - 1]);
  return mark;
}

Document FromRow(const pqxx::row& row, bool with_body) {
  Document d;
  d.id = row[0].as<std::string>();
  d.name = row[1].as<std::string>();
  d.source_uri = row[2].as<std::string>();
  d.content_type = row[3].as<std::string>();
  auto attributes = DecodeAttributes(row[4].as<std::string>());
  if (!attributes.ok()) throw std::runtime_error("stored attributes are not a map of strings");
  d.attributes = std::move(*attributes);
  d.status = static_cast<DocStatus>(row[5].as<int>());
  d.status_detail = row[6].as<std::string>();
  d.version = row[7].as<int64_t>();
  d.create_time_us = row[8].as<int64_t>();
  d.update_time_us = row[9].as<int64_t>();
  d.lease_holder = row[10].as<std::string>();
  d.lease_expires_us = row[11].as<int64_t>();
  d.attempts = row[12].as<int32_t>();
  d.max_attempts = row[13].as<int32_t>();
  d.last_lease_holder = row[14].as<std::string>();
  d.redeliver_us = row[15].as<int64_t>();
  if (with_body) d.body = pqxx::binarystring(row[kBodyColumn]).str();
  return d;
}

std::optional<RowState> StateOf(pqxx::nontransaction& tx, const std::string& id) {
  const pqxx::result r = tx.exec_prepared(kStatusOf, id);
  if (r.empty()) return std::nullopt;
  return RowState{static_cast<DocStatus>(r[0][0].as<int>()), r[0][1].as<int64_t>(), r[0][2].as<bool>(),
                  r[0][3].as<bool>()};
}

absl::Status VersionMoved(int64_t expected, int64_t version) {
  return absl::AbortedError(absl::StrCat("expected_version ", expected, " but the document is at version ", version));
}

}  // namespace docgate::store
