#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace docgate {

// The whole of the file at `path`, bytes as they are; nullopt when it cannot be read.
// For the small files docgate re-reads while it runs (a password, the tokens).
inline std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return text.str();
}

}  // namespace docgate
