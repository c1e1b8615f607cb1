#include "process_cpu.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace loadgen {
namespace {

struct Stat {
  pid_t ppid = 0;
  double self = 0;      // utime + stime
  double children = 0;  // cutime + cstime
};

// /proc/PID/stat: the command may hold spaces, so fields are counted after its ')'.
bool ReadStat(pid_t pid, Stat* out) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(line.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  if (f.size() < 15) return false;  // f[0] is field 3 (state)
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out->ppid = static_cast<pid_t>(std::atol(f[1].c_str()));
  out->self = (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / tick;
  out->children = (std::atof(f[13].c_str()) + std::atof(f[14].c_str())) / tick;
  return true;
}

}  // namespace

bool ParseWatchedProcess(const std::string& text, WatchedProcess* out) {
  const auto a = text.find(':');
  if (a == std::string::npos || a == 0) return false;
  const auto b = text.find(':', a + 1);
  out->name = text.substr(0, a);
  const std::string pid = text.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
  out->pid = static_cast<pid_t>(std::atol(pid.c_str()));
  out->tree = b != std::string::npos && text.substr(b + 1) == "tree";
  return out->pid > 0 && (b == std::string::npos || out->tree);
}

double CpuSeconds(const WatchedProcess& process) {
  Stat root;
  if (!ReadStat(process.pid, &root)) return 0;
  double total = root.self;
  if (!process.tree) return total;
  total += root.children;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return total;
  while (dirent* entry = readdir(proc)) {
    const pid_t pid = static_cast<pid_t>(std::atol(entry->d_name));
    Stat child;
    if (pid > 0 && ReadStat(pid, &child) && child.ppid == process.pid) total += child.self;
  }
  closedir(proc);
  return total;
}

double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace loadgen
