// loadgen: a load generator for docgate and for the baselines it is compared with.
//
//   loadgen --target docgate --addr HOST:PORT --scenario get|create|mix|health --concurrency N
//   loadgen --target libpq --dsn URL [--unprepared] ...      (direct, or through PgBouncer)
//   loadgen --seed N --dsn URL                                (the warm set GetDocument reads)
//
// Closed loop by default (N operations in flight); --rate R makes it an open loop at R
// operations a second, latency counted from when each operation was due. Prints one
// JSON object: throughput, latency percentiles, errors by code, and CPU seconds of
// this process and of every --cpu NAME:PID[:tree] over the measurement window.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "docgate_driver.h"
#include "latency.h"
#include "libpq_driver.h"
#include "process_cpu.h"

namespace loadgen {
namespace {

struct Flags {
  std::string target = "docgate";
  int64_t seed = 0;
  RunOptions run;
  std::vector<WatchedProcess> cpu;
};

[[noreturn]] void Usage(const std::string& problem) {
  std::fprintf(problem.empty() ? stdout : stderr,
               "%s%s"
               "usage: loadgen [--target docgate|libpq] [--addr HOST:PORT] [--dsn URL] [--unprepared]\n"
               "               [--scenario get|create|mix|health|ryw|list] [--concurrency N] [--rate OPS_PER_S]\n"
               "               [--duration S] [--warmup S] [--warm-set N] [--threads N] [--channels N]\n"
               "               [--consistency strong|fresh|any] [--token TOKEN] [--caller NAME]\n"
               "               [--page-size N] [--enqueue QUEUE]\n"
               "               [--cpu NAME:PID[:tree]]...\n"
               "       loadgen --seed N --dsn URL\n",
               problem.empty() ? "" : "loadgen: ", problem.empty() ? "" : (problem + "\n").c_str());
  std::exit(problem.empty() ? 0 : 64);
}

Flags Parse(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") Usage("");
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--target")
      f.target = value();
    else if (flag == "--addr")
      f.run.addr = value();
    else if (flag == "--dsn")
      f.run.dsn = value();
    else if (flag == "--unprepared")
      f.run.prepared = false;
    else if (flag == "--scenario") {
      if (!ParseScenario(value(), &f.run.scenario)) Usage("unknown scenario");
    } else if (flag == "--concurrency")
      f.run.concurrency = std::atoi(value().c_str());
    else if (flag == "--rate")
      f.run.rate = std::atof(value().c_str());
    else if (flag == "--duration")
      f.run.duration_s = std::atof(value().c_str());
    else if (flag == "--warmup")
      f.run.warmup_s = std::atof(value().c_str());
    else if (flag == "--warm-set")
      f.run.warm_set = std::atoll(value().c_str());
    else if (flag == "--threads")
      f.run.threads = std::atoi(value().c_str());
    else if (flag == "--channels")
      f.run.channels = std::atoi(value().c_str());
    else if (flag == "--consistency") {
      const std::string c = value();
      if (c == "strong")
        f.run.consistency = 1;
      else if (c == "fresh")
        f.run.consistency = 2;
      else if (c == "any")
        f.run.consistency = 3;
      else
        Usage("--consistency is strong, fresh (with --token) or any");
    } else if (flag == "--token")
      f.run.token = value();
    else if (flag == "--caller")
      f.run.caller = value();
    else if (flag == "--enqueue")
      f.run.enqueue = value();
    else if (flag == "--page-size")
      f.run.page_size = std::atoi(value().c_str());
    else if (flag == "--seed")
      f.seed = std::atoll(value().c_str());
    else if (flag == "--cpu") {
      WatchedProcess p;
      if (!ParseWatchedProcess(value(), &p)) Usage("--cpu wants NAME:PID or NAME:PID:tree");
      f.cpu.push_back(p);
    } else
      Usage("unknown flag " + flag);
  }
  if (f.target != "docgate" && f.target != "libpq") Usage("--target is docgate or libpq");
  if (f.target == "libpq" && (f.run.scenario == Scenario::kHealth || f.run.scenario == Scenario::kReadYourWrites ||
                              f.run.scenario == Scenario::kList)) {
    Usage("the health and ryw scenarios are docgate's only");
  }
  if ((f.target == "libpq" || f.seed > 0) && f.run.dsn.empty()) Usage("--dsn is required");
  if (f.run.concurrency < 1 || f.run.duration_s <= 0 || f.run.warm_set < 1) Usage("bad numbers");
  return f;
}

// CPU seconds of every watched process, and of this one, at one moment.
std::map<std::string, double> SampleCpu(const std::vector<WatchedProcess>& watched) {
  std::map<std::string, double> cpu{{"loadgen", OwnCpuSeconds()}};
  for (const auto& p : watched) cpu[p.name] += CpuSeconds(p);
  return cpu;
}

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t at = std::min(sorted.size() - 1, static_cast<size_t>(std::ceil(q * sorted.size())) - (q > 0 ? 1 : 0));
  return static_cast<double>(sorted[at]) / 1000.0;
}

void Report(const Flags& f, RunTotals totals, const std::map<std::string, double>& cpu_before,
            const std::map<std::string, double>& cpu_after) {
  std::sort(totals.latencies_ns.begin(), totals.latencies_ns.end());
  const double ok = static_cast<double>(totals.latencies_ns.size());
  int64_t failed = 0;
  for (const auto& [code, n] : totals.errors) failed += n;
  const double done = ok + static_cast<double>(failed);
  const char* const kScenarioNames[] = {"get", "create", "mix", "health", "ryw", "list"};
  const char* scenario = kScenarioNames[static_cast<int>(f.run.scenario)];
  std::printf(
      "{\"target\": \"%s\", \"scenario\": \"%s\", \"concurrency\": %d, \"rate\": %.0f, \"duration_s\": %.3f,"
      " \"ok\": %.0f, \"throughput\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f,"
      " \"p999_us\": %.1f, \"max_us\": %.1f, \"errors\": {",
      f.target.c_str(), scenario, f.run.concurrency, f.run.rate, f.run.duration_s, ok, ok / f.run.duration_s,
      Percentile(totals.latencies_ns, 0.5), Percentile(totals.latencies_ns, 0.9), Percentile(totals.latencies_ns, 0.99),
      Percentile(totals.latencies_ns, 0.999),
      totals.latencies_ns.empty() ? 0.0 : static_cast<double>(totals.latencies_ns.back()) / 1000.0);
  const char* sep = "";
  for (const auto& [code, n] : totals.errors) {
    std::printf("%s\"%s\": %lld", sep, code.c_str(), static_cast<long long>(n));
    sep = ", ";
  }
  std::printf("}, \"cpu_us_per_op\": {");
  sep = "";
  for (const auto& [name, after] : cpu_after) {
    const double used = after - cpu_before.at(name);
    std::printf("%s\"%s\": %.1f", sep, name.c_str(), done > 0 ? used * 1e6 / done : 0.0);
    sep = ", ";
  }
  std::printf("}}\n");
}

// Opens the window after the warm-up and samples CPU at its two ends.
class SampledWindow final : public WindowClock {
 public:
  explicit SampledWindow(const Flags& flags) : flags_(flags) {}
  ~SampledWindow() override {
    if (sampler_.joinable()) sampler_.join();
  }

  Window Begin() override {
    auto seconds = [](double s) {
      return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
    };
    const auto start = Clock::now() + seconds(flags_.run.warmup_s);
    const Window window{start, start + seconds(flags_.run.duration_s)};
    sampler_ = std::thread([this, window] {
      std::this_thread::sleep_until(window.start);
      before_ = SampleCpu(flags_.cpu);
      std::this_thread::sleep_until(window.end);
      after_ = SampleCpu(flags_.cpu);
    });
    return window;
  }

  void AwaitEnd() override {
    std::call_once(joined_, [this] { sampler_.join(); });
  }

  std::pair<std::map<std::string, double>, std::map<std::string, double>> Cpu() const { return {before_, after_}; }

 private:
  const Flags& flags_;
  std::thread sampler_;
  std::once_flag joined_;
  std::map<std::string, double> before_, after_;
};

int Main(int argc, char** argv) {
  const Flags f = Parse(argc, argv);
  if (f.seed > 0) {
    std::string error;
    if (!SeedWarmSet(f.run.dsn, f.seed, &error)) {
      std::fprintf(stderr, "loadgen: seeding failed: %s\n", error.c_str());
      return 1;
    }
    return 0;
  }
  SampledWindow clock(f);
  RunTotals totals = f.target == "docgate" ? RunDocgate(f.run, clock) : RunLibpq(f.run, clock);
  clock.AwaitEnd();
  const auto& [cpu_before, cpu_after] = clock.Cpu();
  Report(f, std::move(totals), cpu_before, cpu_after);
  return 0;
}

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) { return loadgen::Main(argc, argv); }
