// SPDX-License-Identifier: Apache-2.0
#include "adapters/web/charts.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

namespace zonegate::adapters::web {
namespace {

// Colour-blind-safe palette (Okabe–Ito); more series than colours repeat them with dashes.
constexpr std::array<const char*, 7> kPalette{"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                              "#CC79A7", "#56B4E9", "#000000"};

constexpr int kWidth = 860;
constexpr int kLeft = 60;
constexpr int kRight = 20;
constexpr int kTop = 50;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string header(int height, std::string_view title, std::string_view note) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(kWidth) + "\" height=\"" +
                  std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(kWidth) + " " + std::to_string(height) +
                  "\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">";
  s += "<title>" + xml_escape(title) + "</title>";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>";
  s += "<text x=\"" + std::to_string(kLeft) + "\" y=\"20\" font-size=\"15\" font-weight=\"bold\">" + xml_escape(title) +
       "</text>";
  if (!note.empty()) {
    s += "<text x=\"" + std::to_string(kLeft) + "\" y=\"38\" fill=\"#b00020\">" + xml_escape(note) + "</text>";
  }
  return s;
}

std::string hour_label(core::Instant t) {
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const auto hours = std::chrono::duration_cast<std::chrono::hours>(t - day).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02u-%02u %02lldh", static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<long long>(hours));
  return buf;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters are not allowed in XML 1.0 at all; drop them.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') break;
        out += c;
    }
  }
  return out;
}

std::uint64_t nice_step(std::uint64_t max, unsigned ticks) {
  if (ticks == 0) ticks = 1;
  std::uint64_t magnitude = 1;
  while (true) {
    for (const std::uint64_t m : {1U, 2U, 5U}) {
      const std::uint64_t step = m * magnitude;
      if (max / step <= ticks) return step;
    }
    magnitude *= 10;
  }
}

std::string hourly_chart_svg(std::string_view title, core::Instant first_hour, const std::vector<HourlySeries>& series,
                             std::string_view note) {
  const std::size_t hours = series.empty() ? 0 : series.front().counts.size();
  const int legend_rows = static_cast<int>((series.size() + 3) / 4);
  const int plot_h = 220;
  const int height = kTop + plot_h + 40 + legend_rows * 18 + 10;
  const int plot_w = kWidth - kLeft - kRight;
  std::uint64_t max = 0;
  for (const auto& s : series) {
    for (const auto c : s.counts) max = std::max(max, c);
  }
  const std::uint64_t step = nice_step(std::max<std::uint64_t>(max, 1), 5);
  const std::uint64_t top = ((std::max<std::uint64_t>(max, 1) + step - 1) / step) * step;
  const auto x_of = [&](std::size_t h) {
    return kLeft + (hours <= 1 ? plot_w / 2.0 : static_cast<double>(h) * plot_w / static_cast<double>(hours - 1));
  };
  const auto y_of = [&](std::uint64_t v) {
    return kTop + plot_h - static_cast<double>(v) * plot_h / static_cast<double>(top);
  };

  std::string s = header(height, title, note);
  // Grid and y labels.
  for (std::uint64_t v = 0; v <= top; v += step) {
    const std::string y = num(y_of(v));
    s += "<line x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kLeft + plot_w) + "\" y1=\"" + y +
         "\" y2=\"" + y + "\" stroke=\"#dddddd\"/>";
    s += "<text x=\"" + std::to_string(kLeft - 6) + "\" y=\"" + num(y_of(v) + 4) + "\" text-anchor=\"end\">" +
         std::to_string(v) + "</text>";
  }
  // X labels: at most about 12, on whole hours.
  const std::size_t every = std::max<std::size_t>(1, (hours + 11) / 12);
  for (std::size_t h = 0; h < hours; h += every) {
    s += "<text x=\"" + num(x_of(h)) + "\" y=\"" + std::to_string(kTop + plot_h + 16) +
         "\" text-anchor=\"middle\" font-size=\"10\">" + xml_escape(hour_label(first_hour + std::chrono::hours(h))) +
         "</text>";
  }
  s += "<text x=\"" + std::to_string(kLeft + plot_w) + "\" y=\"" + std::to_string(kTop + plot_h + 30) +
       "\" text-anchor=\"end\" font-size=\"10\" fill=\"#555555\">hour starting (UTC)</text>";
  if (series.empty() || max == 0) {
    s += "<text x=\"" + std::to_string(kLeft + plot_w / 2) + "\" y=\"" + std::to_string(kTop + plot_h / 2) +
         "\" text-anchor=\"middle\" fill=\"#555555\">no entries in this period</text>";
  }
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* colour = kPalette[i % kPalette.size()];
    const bool dashed = i >= kPalette.size();
    std::string points;
    for (std::size_t h = 0; h < series[i].counts.size(); ++h) {
      if (!points.empty()) points += ' ';
      points += num(x_of(h)) + "," + num(y_of(series[i].counts[h]));
    }
    s += "<polyline fill=\"none\" stroke=\"" + std::string(colour) + "\" stroke-width=\"2\"" +
         (dashed ? " stroke-dasharray=\"6 3\"" : "") + " points=\"" + points + "\"><title>" +
         xml_escape(series[i].name) + "</title></polyline>";
    const int lx = kLeft + static_cast<int>(i % 4) * (plot_w / 4);
    const int ly = kTop + plot_h + 48 + static_cast<int>(i / 4) * 18;
    s += "<rect x=\"" + std::to_string(lx) + "\" y=\"" + std::to_string(ly - 9) +
         "\" width=\"14\" height=\"4\" fill=\"" + colour + "\"/>";
    std::uint64_t total = 0;
    for (const auto c : series[i].counts) total += c;
    s += "<text x=\"" + std::to_string(lx + 20) + "\" y=\"" + std::to_string(ly - 4) + "\">" +
         xml_escape(series[i].name) + " (" + std::to_string(total) + ")</text>";
  }
  s += "<line x1=\"" + std::to_string(kLeft) + "\" x2=\"" + std::to_string(kLeft) + "\" y1=\"" + std::to_string(kTop) +
       "\" y2=\"" + std::to_string(kTop + plot_h) + "\" stroke=\"#333333\"/>";
  s += "</svg>\n";
  return s;
}

std::string bar_chart_svg(std::string_view title, const std::vector<std::pair<std::string, std::uint64_t>>& bars,
                          std::string_view note) {
  constexpr int kBarH = 20;
  constexpr int kGap = 6;
  constexpr int kLabelW = 170;
  const int rows = std::max<int>(1, static_cast<int>(bars.size()));
  const int height = kTop + rows * (kBarH + kGap) + 20;
  const int plot_x = kLeft + kLabelW;
  const int plot_w = kWidth - plot_x - kRight - 60;
  std::uint64_t max = 0;
  for (const auto& b : bars) max = std::max(max, b.second);

  std::string s = header(height, title, note);
  if (bars.empty()) {
    s += "<text x=\"" + std::to_string(kLeft) + "\" y=\"" + std::to_string(kTop + 14) +
         "\" fill=\"#555555\">no denials in this period</text>";
  }
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const int y = kTop + static_cast<int>(i) * (kBarH + kGap);
    const double w = max == 0 ? 0.0 : static_cast<double>(bars[i].second) * plot_w / static_cast<double>(max);
    s += "<text x=\"" + std::to_string(plot_x - 8) + "\" y=\"" + std::to_string(y + 14) + "\" text-anchor=\"end\">" +
         xml_escape(bars[i].first) + "</text>";
    s += "<rect x=\"" + std::to_string(plot_x) + "\" y=\"" + std::to_string(y) + "\" width=\"" + num(w) +
         "\" height=\"" + std::to_string(kBarH) + "\" fill=\"" + kPalette[3] + "\"><title>" +
         xml_escape(bars[i].first) + ": " + std::to_string(bars[i].second) + "</title></rect>";
    s += "<text x=\"" + num(plot_x + w + 6) + "\" y=\"" + std::to_string(y + 14) + "\">" +
         std::to_string(bars[i].second) + "</text>";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace zonegate::adapters::web
