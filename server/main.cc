// docgate: wiring only. Config, logging, then either `migrate` or the server.
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "server/build_info.h"
#include "server/config.h"
#include "server/config_file.h"
#include "server/db/connect.h"
#include "server/db/migrations.h"
#include "server/docgate_server.h"
#include "server/observability/logging.h"
#include "spdlog/spdlog.h"

extern char** environ;

namespace {

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (auto eq = entry.find('='); eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

int RunMigrate(const docgate::Config& config) {
  auto settings = docgate::db::ConnectionSettings::Parse(config.database_url, config.database_password_file,
                                                         config.connect_timeout);
  if (!settings.ok()) {
    spdlog::critical("migrate failed: {}", std::string(settings.status().message()));
    return 1;
  }
  auto conn = docgate::db::Connect(*settings);
  if (!conn.ok()) {
    spdlog::critical("migrate failed: {}", std::string(conn.status().message()));
    return 1;
  }
  if (auto s = docgate::db::Migrate(**conn); !s.ok()) {
    spdlog::critical("migrate failed: {}", std::string(s.message()));
    return 1;
  }
  spdlog::info("schema is at version {}", docgate::db::LatestSchemaVersion());
  return 0;
}

// Blocks SIGTERM, SIGINT and SIGHUP in every thread (threads inherit the mask), so
// that main alone receives them with sigwait.
sigset_t BlockHandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's Abseil keeps mutex deadlock detection on: every gRPC mutex then takes
  // part in a lock graph (GraphCycles: ~3 % of docgate's CPU under load).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const sigset_t signals = BlockHandledSignals();
  auto invocation = docgate::LoadConfig(Environment(), std::vector<std::string>(argv + 1, argv + argc));
  if (!invocation.ok()) {
    std::cerr << "docgate: " << invocation.status().message() << "\n";
    return 2;
  }
  // The flags with the --config file over them: what --check-config shows and
  // logging starts with (the server reads the file again, and on every reload).
  auto effective = docgate::WithConfigFile(invocation->config);
  if (!effective.ok()) {
    std::cerr << "docgate: " << effective.status().message() << "\n";
    return 2;
  }
  const docgate::Config& config = *effective;
  switch (invocation->command) {
    case docgate::Command::kHelp: std::cout << docgate::HelpText(); return 0;
    case docgate::Command::kCheckConfig: std::cout << docgate::DescribeConfig(config); return 0;
    case docgate::Command::kVersion:
      std::cout << "docgate " << docgate::kDocgateVersion << " (" << docgate::kDocgateRevision << ")\n";
      return 0;
    default: break;
  }
  if (auto s = docgate::SetUpLogging(config.log_format, config.log_level); !s.ok()) {
    std::cerr << "docgate: " << s.message() << "\n";
    return 2;
  }
  if (invocation->command == docgate::Command::kMigrate) return RunMigrate(config);

  auto server = docgate::DocgateServer::Start(invocation->config);
  if (!server.ok()) {
    spdlog::critical("cannot start: {}", std::string(server.status().message()));
    return 1;
  }
  int signal = 0;
  // SIGHUP, which many tools send to ask for a reload, reloads; the others stop.
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) (*server)->Reload();
  spdlog::info("shutting down signal={} grace_ms={}", signal, config.shutdown_grace.count());
  const bool drained = (*server)->Drain(config.shutdown_grace);
  spdlog::info("docgate stopped drained={}", drained);
  spdlog::default_logger()->flush();
  // Out without gRPC's shutdown (see DocgateServer::Drain): the connections close
  // with the process, and a client still sending sees UNAVAILABLE.
  std::_Exit(0);
}
