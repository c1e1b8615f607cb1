#include "libpq_driver.h"

#include <libpq-fe.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace loadgen {
namespace {

// The statements docgate's store runs for GetDocument (without the body) and
// CreateDocument (server/store/pg_document_store.cc), so both sides do the same work.
constexpr char kColumns[] =
    "id::text, name, source_uri, content_type, attributes::text, status, status_detail, version,"
    " (extract(epoch FROM create_time) * 1000000)::int8, (extract(epoch FROM update_time) * 1000000)::int8";
const std::string kGetSql = std::string("SELECT ") + kColumns + " FROM documents WHERE id = $1";
const std::string kCreateSql =
    std::string(
        "INSERT INTO documents (id, name, source_uri, content_type, body, attributes, status, status_detail,"
        " version, create_time, update_time)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb, 1, '', 1, now(), now())"
        " ON CONFLICT (id) DO NOTHING RETURNING ") +
    kColumns;

using Connection = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using Result = std::unique_ptr<PGresult, decltype(&PQclear)>;

// "53300" for too many connections, else a connection failure.
std::string ConnectFailureCode(PGconn* conn) {
  const char* message = PQerrorMessage(conn);
  return std::strstr(message, "too many clients") != nullptr ? "connect 53300" : "connect 08006";
}

class Client {
 public:
  Client(const RunOptions& options, uint64_t seed)
      : options_(options), picker_(options.scenario, options.warm_set, seed) {}

  // Connects and prepares; false (with the error counted) when it cannot.
  bool Open(Recorder::Shard& shard) {
    conn_.reset(PQconnectdb(options_.dsn.c_str()));
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      shard.Error(ConnectFailureCode(conn_.get()));
      return false;
    }
    if (!options_.prepared) return true;
    for (const auto& [name, sql] : {std::pair{"get", &kGetSql}, std::pair{"create", &kCreateSql}}) {
      Result r(PQprepare(conn_.get(), name, sql->c_str(), 0, nullptr), PQclear);
      if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
        shard.Error("prepare failed");
        return false;
      }
    }
    return true;
  }

  // One operation; an empty string when it succeeded, else its SQLSTATE.
  std::string RunOne() {
    if (picker_.Next() == Op::kCreate) {
      const std::string id = picker_.IdToCreate();
      const std::string& body = CreateBody();
      const char* values[] = {id.c_str(), "bench", "s3://bench/doc", "text/plain", body.data(), "{}"};
      const int lengths[] = {0, 0, 0, 0, static_cast<int>(body.size()), 0};
      const int formats[] = {0, 0, 0, 0, 1, 0};
      return Check(options_.prepared
                       ? PQexecPrepared(conn_.get(), "create", 6, values, lengths, formats, 0)
                       : PQexecParams(conn_.get(), kCreateSql.c_str(), 6, nullptr, values, lengths, formats, 0));
    }
    const std::string id = picker_.WarmIdToGet();
    const char* values[] = {id.c_str()};
    return Check(options_.prepared
                     ? PQexecPrepared(conn_.get(), "get", 1, values, nullptr, nullptr, 0)
                     : PQexecParams(conn_.get(), kGetSql.c_str(), 1, nullptr, values, nullptr, nullptr, 0));
  }

  bool Broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }

 private:
  static std::string Check(PGresult* raw) {
    Result r(raw, PQclear);
    const auto status = PQresultStatus(r.get());
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) return "";
    const char* sqlstate = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
    return sqlstate != nullptr ? sqlstate : "08006";
  }

  const RunOptions& options_;
  OperationPicker picker_;
  Connection conn_{nullptr, PQfinish};
};

// Every client connects, then all start together.
class StartLine {
 public:
  explicit StartLine(int clients) : waiting_(clients) {}
  void Arrive() {
    std::unique_lock<std::mutex> lock(mu_);
    if (--waiting_ == 0) cv_.notify_all();
  }
  void WaitForAll() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return waiting_ == 0; });
  }
  void Go(Window window) {
    std::lock_guard<std::mutex> lock(mu_);
    window_ = window;
    started_ = true;
    cv_.notify_all();
  }
  Window WaitForGo() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return started_; });
    return window_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int waiting_;
  bool started_ = false;
  Window window_;
};

}  // namespace

RunTotals RunLibpq(const RunOptions& options, WindowClock& clock) {
  Recorder recorder;
  StartLine line(options.concurrency);
  std::atomic<int64_t> next_ticket{0};
  Clock::time_point first_due;
  const auto step =
      options.rate > 0 ? std::chrono::duration<double>(1.0 / options.rate) : std::chrono::duration<double>(0);

  std::vector<std::thread> clients;
  for (int i = 0; i < options.concurrency; ++i) {
    clients.emplace_back([&, i] {
      Recorder::Shard shard;
      Client client(options, 0x5eed + static_cast<uint64_t>(i));
      const bool open = client.Open(shard);
      line.Arrive();
      const Window window = line.WaitForGo();
      while (open && !client.Broken()) {
        Clock::time_point started = Clock::now();
        if (options.rate > 0) {  // open loop: take the next due time, whoever is free
          started = first_due + std::chrono::duration_cast<Clock::duration>(step * static_cast<double>(next_ticket++));
          if (started >= window.end) break;
          std::this_thread::sleep_until(started);
        } else if (started >= window.end) {
          break;
        }
        const std::string failure = client.RunOne();
        const auto done = Clock::now();
        if (!window.Contains(done)) continue;
        if (failure.empty()) {
          shard.Ok(done - started);
        } else {
          shard.Error(failure);
        }
      }
      recorder.Merge(shard);
      clock.AwaitEnd();  // the connection closes when `client` goes
    });
  }
  line.WaitForAll();
  first_due = Clock::now();
  line.Go(clock.Begin());
  for (auto& t : clients) t.join();
  return recorder.Take();
}

bool SeedWarmSet(const std::string& dsn, int64_t n, std::string* error) {
  Connection conn(PQconnectdb(dsn.c_str()), PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    *error = PQerrorMessage(conn.get());
    return false;
  }
  const std::string count = std::to_string(n - 1);
  const char* values[] = {count.c_str()};
  Result r(
      PQexecParams(conn.get(),
                   "INSERT INTO documents (id, name, source_uri, content_type, body, attributes, status,"
                   " status_detail, version, create_time, update_time)"
                   " SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, 'warm', 's3://bench/warm',"
                   " 'text/plain', convert_to(repeat('x', 1024), 'UTF8'), '{}', 1, '', 1, now(), now()"
                   " FROM generate_series(0, $1::int8) AS i ON CONFLICT (id) DO NOTHING",
                   1, nullptr, values, nullptr, nullptr, 0),
      PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    *error = PQresultErrorMessage(r.get());
    return false;
  }
  Result analyze(PQexec(conn.get(), "ANALYZE documents"), PQclear);
  return true;
}

}  // namespace loadgen
