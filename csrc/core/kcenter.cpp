#include "rbic/kcenter.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace rbic::select {

namespace {

// Fixed chunking (independent of the thread count) keeps the argmax reduction order, and so the
// result, identical at any number of threads.
constexpr std::int64_t kChunk = 1024;
constexpr auto kPollInterval = std::chrono::milliseconds(20);

// Eight independent float lanes: vectorisable without -ffast-math, and the same summation order for a
// row on every thread, so results do not depend on the thread count.
double sq_dist(const float* a, const float* b, std::int64_t d) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::int64_t j = 0;
    for (; j + 8 <= d; j += 8) {
        for (int l = 0; l < 8; ++l) {
            float t = a[j + l] - b[j + l];
            lane[l] += t * t;
        }
    }
    double s = 0.0;
    for (; j < d; ++j) {
        double t = static_cast<double>(a[j]) - static_cast<double>(b[j]);
        s += t * t;
    }
    for (int l = 0; l < 8; ++l) s += lane[l];
    return s;
}

}  // namespace

void greedy_kcenter(const KCenterParams& params, MatrixView<const float> x, VectorView<std::int64_t> centres,
                    VectorView<float> radius, VectorView<float> min_dist, const Hooks& hooks) {
    const std::int64_t n = x.rows, d = x.cols, k = params.k;
    if (n <= 0) throw std::invalid_argument("greedy_kcenter: no points");
    if (k < 1 || k > n) {
        throw std::invalid_argument("greedy_kcenter: k must be in 1.." + std::to_string(n) + ", got " +
                                    std::to_string(k));
    }
    if (params.start < 0 || params.start >= n) {
        throw std::invalid_argument("greedy_kcenter: start must be in 0.." + std::to_string(n - 1));
    }
    if (centres.size != k || radius.size != k || min_dist.size != n) {
        throw std::invalid_argument("greedy_kcenter: output sizes must be k, k and rows");
    }
    // best[i]: squared distance to the nearest centre; -1 marks a centre (never picked again).
    std::vector<double> best(static_cast<std::size_t>(n), INFINITY);
    const std::int64_t n_chunks = (n + kChunk - 1) / kChunk;
    std::vector<double> chunk_max(static_cast<std::size_t>(n_chunks));
    std::vector<std::int64_t> chunk_arg(static_cast<std::size_t>(n_chunks));
    const int threads = resolve_threads(params.threads);
    const Hooks inner;  // polling is done here, between steps, on the calling thread
    auto last_poll = std::chrono::steady_clock::now();

    std::int64_t c = params.start;
    for (std::int64_t t = 0; t < k; ++t) {
        centres[t] = c;
        best[static_cast<std::size_t>(c)] = -1.0;
        const float* xc = x.row(c);
        parallel_for(n_chunks, threads, inner, [&](std::int64_t chunk, int) {
            const std::int64_t lo = chunk * kChunk, hi = std::min(n, lo + kChunk);
            double mx = -1.0;
            std::int64_t arg = -1;
            for (std::int64_t i = lo; i < hi; ++i) {
                double& b = best[static_cast<std::size_t>(i)];
                if (b >= 0.0) {
                    double dist = sq_dist(x.row(i), xc, d);
                    if (dist < b) b = dist;
                }
                if (b > mx) {
                    mx = b;
                    arg = i;
                }
            }
            chunk_max[static_cast<std::size_t>(chunk)] = mx;
            chunk_arg[static_cast<std::size_t>(chunk)] = arg;
        });
        double mx = -1.0;
        std::int64_t arg = -1;
        for (std::int64_t ch = 0; ch < n_chunks; ++ch) {
            if (chunk_max[static_cast<std::size_t>(ch)] > mx) {
                mx = chunk_max[static_cast<std::size_t>(ch)];
                arg = chunk_arg[static_cast<std::size_t>(ch)];
            }
        }
        radius[t] = mx < 0.0 ? 0.0f : static_cast<float>(std::sqrt(mx));
        c = arg;  // -1 only once every point is a centre, i.e. t == n - 1 == k - 1
        auto now = std::chrono::steady_clock::now();
        if (now - last_poll >= kPollInterval || t + 1 == k) {
            last_poll = now;
            if (hooks.interrupt && hooks.interrupt()) throw Interrupted();
            if (hooks.progress) hooks.progress(t + 1, k);
        }
    }
    for (std::int64_t i = 0; i < n; ++i) {
        double b = best[static_cast<std::size_t>(i)];
        min_dist[i] = b < 0.0 ? 0.0f : static_cast<float>(std::sqrt(b));
    }
}

}  // namespace rbic::select
