#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace loadgen {

// kMix: 80 % gets, 20 % creates. kHealth: grpc.health.v1 Check, which gRPC's own
// health service answers without docgate's queue or the database: the floor of
// any RPC on this machine (docgate only). kReadYourWrites: a create, then a get of
// it with the create's consistency token, as one operation (docgate only; a
// NOT_FOUND there is a read that missed its own write). kList: ListDocuments of
// --page-size rows (1,000), a slow call that holds a database connection (docgate only).
enum class Scenario { kGet, kCreate, kMix, kHealth, kReadYourWrites, kList };
enum class Op { kGet, kCreate, kHealth, kList };

bool ParseScenario(const std::string& text, Scenario* out);

// The warm set: documents 0..n-1 under fixed ids, so every driver and pgbench can
// name them without reading them first (see WarmId and bench/sql/).
std::string WarmId(int64_t index);

// A fresh id per create (UUIDv7 layout: time first, then random bits).
std::string NewId(std::mt19937_64& rng);

// The 1 KiB body every create carries.
const std::string& CreateBody();

// Chooses the next operation and, for a get, which warm document.
class OperationPicker {
 public:
  OperationPicker(Scenario scenario, int64_t warm_set, uint64_t seed)
      : scenario_(scenario), warm_set_(warm_set), rng_(seed) {}

  Op Next() {
    switch (scenario_) {
      case Scenario::kGet: return Op::kGet;
      case Scenario::kCreate: return Op::kCreate;
      case Scenario::kReadYourWrites: return Op::kCreate;
      case Scenario::kHealth: return Op::kHealth;
      case Scenario::kList: return Op::kList;
      case Scenario::kMix: break;
    }
    return std::uniform_int_distribution<int>(0, 99)(rng_) < 20 ? Op::kCreate : Op::kGet;
  }
  std::string WarmIdToGet() { return WarmId(std::uniform_int_distribution<int64_t>(0, warm_set_ - 1)(rng_)); }
  std::string IdToCreate() { return NewId(rng_); }

 private:
  Scenario scenario_;
  int64_t warm_set_;
  std::mt19937_64 rng_;
};

}  // namespace loadgen
