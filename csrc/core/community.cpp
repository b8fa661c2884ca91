// Modularity of a partition and centrality of nodes inside their communities.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "rbic/community.hpp"

namespace rbic::community {

namespace {

using i32 = std::int32_t;
using i64 = std::int64_t;

constexpr i64 kRows = 4096;

void check_membership(const CsrGraph& g, const i32* membership) {
    for (i64 i = 0; i < g.n; ++i) {
        if (membership[i] < 0 || membership[i] >= g.n) {
            throw std::invalid_argument("membership[" + std::to_string(i) + "] = " + std::to_string(membership[i]) +
                                        " is outside [0, n); labels must be 0..n-1");
        }
    }
}

// Members of each community, in node order: (start offsets, members).
std::pair<std::vector<i64>, std::vector<i32>> group_members(i64 n, const i32* membership) {
    std::vector<i64> start(static_cast<std::size_t>(n) + 1, 0);
    for (i64 i = 0; i < n; ++i) ++start[membership[i] + 1];
    for (i64 c = 0; c < n; ++c) start[c + 1] += start[c];
    std::vector<i32> members(static_cast<std::size_t>(n));
    std::vector<i64> pos(start.begin(), start.end() - 1);
    for (i64 i = 0; i < n; ++i) members[pos[membership[i]]++] = static_cast<i32>(i);
    return {std::move(start), std::move(members)};
}

}  // namespace

double modularity(const CsrGraph& g, const i32* membership, double resolution, int threads) {
    check_membership(g, membership);
    const i64 n = g.n;
    const i64 tasks = (n + kRows - 1) / kRows;
    std::vector<double> inside(static_cast<std::size_t>(tasks), 0.0), total(static_cast<std::size_t>(tasks), 0.0);
    std::vector<double> tot(static_cast<std::size_t>(n), 0.0);
    std::vector<double> degree(static_cast<std::size_t>(n), 0.0);
    parallel_for(tasks, threads, Hooks{}, [&](i64 t, int) {
        const i64 end = std::min(n, (t + 1) * kRows);
        double in = 0.0, all = 0.0;
        for (i64 i = t * kRows; i < end; ++i) {
            double k = 0.0;
            for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                k += g.weights[e];
                if (membership[g.indices[e]] == membership[i]) in += g.weights[e];
            }
            degree[i] = k;
            all += k;
        }
        inside[t] = in;
        total[t] = all;
    });
    double in = 0.0, two_m = 0.0;
    for (i64 t = 0; t < tasks; ++t) {  // fixed summation order: same value at any thread count
        in += inside[t];
        two_m += total[t];
    }
    if (two_m <= 0.0) return 0.0;
    for (i64 i = 0; i < n; ++i) tot[membership[i]] += degree[i];
    double sq = 0.0;
    for (double x : tot) sq += x * x;
    return in / two_m - resolution * sq / (two_m * two_m);
}

void centrality(const CsrGraph& g, const i32* membership, CentralityKind kind, float* out, int threads,
                const Hooks& hooks) {
    check_membership(g, membership);
    const i64 n = g.n;
    if (n == 0) return;
    // (named references, not a structured binding: C++17 lambdas cannot capture those, which clang enforces)
    const auto grouped = group_members(n, membership);
    const std::vector<i64>& start = grouped.first;
    const std::vector<i32>& members = grouped.second;
    std::vector<double> score(static_cast<std::size_t>(n), 0.0);
    // Internal weighted degree (self-loops excluded): the degree score, and PageRank's out-weights.
    std::vector<double> inner(static_cast<std::size_t>(n), 0.0);
    std::vector<i64> local(static_cast<std::size_t>(n));
    for (i64 c = 0; c < n; ++c) {
        for (i64 k = start[c]; k < start[c + 1]; ++k) local[members[k]] = k - start[c];
    }
    Hooks loop_hooks{hooks.interrupt, {}};
    parallel_for(n, threads, loop_hooks, [&](i64 c, int) {
        const i64 sz = start[c + 1] - start[c];
        if (sz == 0) return;
        const i32* mem = members.data() + start[c];
        for (i64 k = 0; k < sz; ++k) {
            const i32 i = mem[k];
            double x = 0.0;
            for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                const i32 j = g.indices[e];
                if (j != i && membership[j] == c) x += g.weights[e];
            }
            inner[i] = x;
        }
        if (kind == CentralityKind::degree) {
            for (i64 k = 0; k < sz; ++k) score[mem[k]] = inner[mem[k]];
        } else {
            // Power iteration of PageRank on the induced subgraph (pull form: the graph is symmetric);
            // members without internal edges spread their rank uniformly.
            constexpr double d = 0.85;
            std::vector<double> r(static_cast<std::size_t>(sz), 1.0 / static_cast<double>(sz)), next(r.size());
            for (int it = 0; it < 200; ++it) {
                double dangling = 0.0;
                for (i64 k = 0; k < sz; ++k) {
                    if (inner[mem[k]] == 0.0) dangling += r[k];
                }
                const double base = (1.0 - d + d * dangling) / static_cast<double>(sz);
                double change = 0.0;
                for (i64 k = 0; k < sz; ++k) {
                    const i32 i = mem[k];
                    double s = 0.0;
                    for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                        const i32 j = g.indices[e];
                        if (j != i && membership[j] == c) s += g.weights[e] / inner[j] * r[local[j]];
                    }
                    next[k] = base + d * s;
                    change += std::fabs(next[k] - r[k]);
                }
                r.swap(next);
                if (change < 1e-10) break;  // L1 change of a distribution summing to 1
            }
            for (i64 k = 0; k < sz; ++k) score[mem[k]] = r[k];
        }
        double hi = 0.0;
        for (i64 k = 0; k < sz; ++k) hi = std::max(hi, score[mem[k]]);
        for (i64 k = 0; k < sz; ++k) score[mem[k]] = hi > 0.0 ? score[mem[k]] / hi : 1.0;
    });
    for (i64 i = 0; i < n; ++i) out[i] = static_cast<float>(score[i]);
}

}  // namespace rbic::community
