// Propagation of node values over a graph (Jacobi iteration of a personalised-PageRank-style average).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "rbic/graph.hpp"

namespace rbic::graph {

void propagate(const PropagateParams& params, const CsrGraph& g, const float* values, const std::uint8_t* known,
               float* out, const Hooks& hooks) {
    if (!(params.alpha >= 0.0 && params.alpha <= 1.0)) {
        throw std::invalid_argument("propagate: alpha must be in [0, 1], got " + std::to_string(params.alpha));
    }
    if (params.iterations < 0) throw std::invalid_argument("propagate: iterations must be >= 0");
    const std::int64_t n = g.n;
    if (n == 0) return;
    double sum = 0.0;
    std::int64_t n_known = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        if (!known[i]) continue;
        if (!std::isfinite(values[i])) {
            throw std::invalid_argument("propagate: values[" + std::to_string(i) +
                                        "] is not finite but known_mask marks it known; fix the value or the mask");
        }
        sum += values[i];
        ++n_known;
    }
    if (n_known == 0) throw std::invalid_argument("propagate: known_mask marks no node as known");
    const double mu = sum / static_cast<double>(n_known);
    const double alpha = params.alpha;

    std::vector<double> f(static_cast<std::size_t>(n)), next(static_cast<std::size_t>(n)), inv_deg(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
        f[i] = known[i] ? static_cast<double>(values[i]) : mu;
        double k = 0.0;
        for (std::int64_t e = g.indptr[i]; e < g.indptr[i + 1]; ++e) k += g.weights[e];
        inv_deg[i] = k > 0.0 ? 1.0 / k : 0.0;
    }
    next = f;
    constexpr std::int64_t kRows = 2048;
    const std::int64_t tasks = (n + kRows - 1) / kRows;
    Hooks loop_hooks{hooks.interrupt, {}};
    for (int it = 0; it < params.iterations; ++it) {
        parallel_for(tasks, params.threads, loop_hooks, [&](std::int64_t t, int) {
            const std::int64_t end = std::min(n, (t + 1) * kRows);
            for (std::int64_t u = t * kRows; u < end; ++u) {
                if (known[u]) continue;
                if (inv_deg[u] == 0.0) {
                    next[u] = mu;
                    continue;
                }
                double s = 0.0;
                for (std::int64_t e = g.indptr[u]; e < g.indptr[u + 1]; ++e) s += g.weights[e] * f[g.indices[e]];
                next[u] = alpha * s * inv_deg[u] + (1.0 - alpha) * mu;
            }
        });
        f.swap(next);
        if (hooks.progress) hooks.progress(it + 1, params.iterations);
    }
    for (std::int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(f[i]);
}

}  // namespace rbic::graph
