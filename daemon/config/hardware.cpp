// SPDX-License-Identifier: Apache-2.0
#include "config/hardware.hpp"

#include <unordered_set>
#include <utility>

namespace zonegate::config {

namespace {

/// Collects line names in order, each once.
class NameList {
 public:
  void add(const LineSpec& line) {
    if (seen_.insert(line.name).second) names_.push_back(line.name);
  }
  void add(const std::optional<LineSpec>& line) {
    if (line) add(*line);
  }
  std::vector<std::string> take() { return std::move(names_); }

 private:
  std::vector<std::string> names_;
  std::unordered_set<std::string> seen_;
};

}  // namespace

std::vector<std::string> HardwareConfig::all_input_names() const {
  NameList out;
  for (const auto& d : doors) {
    out.add(d.sensor);
    out.add(d.rex);
  }
  for (const auto& g : gates) {
    out.add(g.clear);
    out.add(g.alarm);
  }
  out.add(fire);
  for (const auto& t : tamper) out.add(t.second);
  return out.take();
}

std::vector<std::string> HardwareConfig::all_output_names() const {
  NameList out;
  for (const auto& d : doors) {
    out.add(d.reader_power);
    out.add(d.strike);
    out.add(d.buzzer);
  }
  return out.take();
}

std::string sim_reader_id(std::string_view door, core::Direction dir) {
  std::string out(door);
  out += dir == core::Direction::in ? ":in" : ":out";
  return out;
}

}  // namespace zonegate::config
