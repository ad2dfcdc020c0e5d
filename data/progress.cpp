#include "data/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>

namespace nst {

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total),
      start_(std::chrono::steady_clock::now()), last_draw_(start_), tty_(::isatty(STDERR_FILENO)) {}

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  const double s = elapsed_seconds();
  return s > 0 ? done_ / s : 0.0;
}

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "--:--";
  const auto total = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(total / 3600),
                static_cast<long long>(total / 60 % 60), static_cast<long long>(total % 60));
  return buf;
}

void Progress::advance(int64_t n, const std::string& note) {
  done_ += n;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  if (since_draw >= (tty_ ? 0.2 : 10.0) || done_ == total_) {
    last_draw_ = now;
    draw(note, false);
  }
}

void Progress::finish(const std::string& note) {
  // On a TTY the final line ends the redrawn one; in a log, don't repeat a line already printed.
  if (tty_ || drawn_ != done_ || !note.empty()) draw(note, true);
}

void Progress::draw(const std::string& note, bool final_line) {
  drawn_ = done_;
  std::ostringstream line;
  line << label_ << " ";
  if (total_ > 0) {
    const int width = 24;
    const int filled = static_cast<int>(width * std::min<int64_t>(done_, total_) / total_);
    line << "[" << std::string(filled, '#') << std::string(width - filled, '.') << "] ";
  }
  line << done_;
  if (total_ > 0) line << "/" << total_;
  const double r = rate();
  char rate_text[64];
  if (r >= 1 || r == 0)
    std::snprintf(rate_text, sizeof rate_text, " %.2f %s/s", r, unit_.c_str());
  else
    std::snprintf(rate_text, sizeof rate_text, " %.2f s/%s", 1.0 / r, unit_.c_str());
  line << rate_text << " elapsed " << format_duration(elapsed_seconds());
  if (total_ > 0 && !final_line) line << " ETA " << format_duration(r > 0 ? (total_ - done_) / r : -1);
  if (!note.empty()) line << "  " << note;
  if (tty_)
    std::cerr << "\r\033[K" << line.str() << (final_line ? "\n" : "") << std::flush;
  else
    std::cerr << line.str() << "\n" << std::flush;
}

}  // namespace nst
