// Progress of long jobs on the terminal: count, rate and ETA. Redraws one line on a TTY; prints a
// line every few seconds otherwise (logs, CI).
#pragma once
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace nst {

class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  void advance(int64_t n = 1, const std::string& note = "");
  void finish(const std::string& note = "");
  double rate() const;                 // units per second since start
  double elapsed_seconds() const;
  static std::string format_duration(double seconds);  // H:MM:SS

 private:
  void draw(const std::string& note, bool final_line);
  std::string label_, unit_;
  int64_t total_, done_ = 0, drawn_ = -1;  // drawn_: count shown by the last line
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool tty_;
};

}  // namespace nst
