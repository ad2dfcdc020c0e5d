#include "infer/batch.h"

#include <unistd.h>

#include <iostream>
#include <sstream>

#include "core/signals.h"
#include "data/progress.h"

namespace nst {

int BatchSummary::report(const std::string& tool, const std::string& unit) const {
  std::ostringstream line;
  line << tool << ": " << (scope.empty() ? "" : scope + ": ") << written << " " << unit << " written";
  if (skipped) line << ", " << skipped << " skipped (output exists)";
  if (!failures.empty()) line << ", " << failures.size() << " failed";
  line << " in " << Progress::format_duration(seconds);
  if (seconds > 0 && written > 0) {
    char rate[48];
    std::snprintf(rate, sizeof rate, " (%.2f %s/s)", written / seconds, unit.c_str());
    line << rate;
  }
  if (interrupted) line << "; interrupted (rerun with --skip-existing to resume)";
  std::cerr << line.str() << "\n";  // each failure had its line when it happened
  if (interrupted) return kExitInterrupted;
  return failures.empty() ? 0 : 1;
}

void report_line(const std::string& line) {
  static const bool tty = ::isatty(STDERR_FILENO);
  std::cerr << (tty ? "\r\033[K" : "") << line << "\n" << std::flush;
}

}  // namespace nst
