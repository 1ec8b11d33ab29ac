// A progress bar for long work: fraction done, rate (with a unit: "samples", "voxels"), elapsed
// time and ETA, redrawn in place on a terminal at most a few times a second. When the stream is
// not a terminal (a log file, CI) it prints a plain line at most every few seconds instead, so
// logs stay readable. Not thread-safe: report from one thread.
#pragma once

#include "axonseg/core/shape.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace axonseg {

class ProgressBar {
public:
    ProgressBar(std::string label, Index total, std::string unit, std::FILE* out = stderr)
        : m_label(std::move(label)), m_unit(std::move(unit)), m_total(total), m_out(out),
          m_tty(::isatty(::fileno(out)) != 0), m_start(Clock::now()), m_last(m_start) {}

    // Requires done <= total, not decreasing. Draws when enough time has passed, and always at the end.
    void update(Index done) {
        m_done = done;
        const Clock::time_point now = Clock::now();
        const double since = seconds(m_last, now);
        if (done < m_total && since < (m_tty ? 0.2 : 5.0)) return;
        m_last = now;
        draw(now);
    }
    void advance(Index n = 1) { update(m_done + n); }

    // Finishes the line (a terminal's bar stays visible with its final figures).
    void finish() {
        if (m_finished) return;
        m_finished = true;
        if (m_done < m_total || !m_drawn) draw(Clock::now());
        if (m_tty) std::fputc('\n', m_out);
        std::fflush(m_out);
    }
    ~ProgressBar() { finish(); }

    ProgressBar(const ProgressBar&) = delete;
    ProgressBar& operator=(const ProgressBar&) = delete;

private:
    using Clock = std::chrono::steady_clock;
    static double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

    static std::string clock_text(double s) {
        char buf[32];
        const long t = long(s + 0.5);
        if (t >= 3600) std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
        else std::snprintf(buf, sizeof(buf), "%ld:%02ld", t / 60, t % 60);
        return buf;
    }

    void draw(Clock::time_point now) {
        m_drawn = true;
        const double elapsed = seconds(m_start, now);
        const double fraction = m_total > 0 ? double(m_done) / double(m_total) : 1.0;
        const double rate = elapsed > 0 ? double(m_done) / elapsed : 0.0;
        const std::string eta = rate > 0 && m_done < m_total ? clock_text(double(m_total - m_done) / rate) : "--:--";
        constexpr int k_width = 30;
        std::string bar(std::size_t(k_width), ' ');
        for (int i = 0; i < int(fraction * k_width + 1e-9) && i < k_width; ++i) bar[std::size_t(i)] = '#';
        std::fprintf(m_out, "%s%s [%s] %3.0f%% %lld/%lld %s, %.3g %s/s, %s elapsed, ETA %s%s", m_tty ? "\r" : "",
                     m_label.c_str(), bar.c_str(), 100.0 * fraction, static_cast<long long>(m_done),
                     static_cast<long long>(m_total), m_unit.c_str(), rate, m_unit.c_str(),
                     clock_text(elapsed).c_str(), eta.c_str(), m_tty ? "\033[K" : "\n");
        std::fflush(m_out);
    }

    std::string m_label, m_unit;
    Index m_total = 0, m_done = 0;
    std::FILE* m_out;
    bool m_tty, m_drawn = false, m_finished = false;
    Clock::time_point m_start, m_last;
};

}  // namespace axonseg
