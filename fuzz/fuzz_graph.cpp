// libFuzzer harness for the graph kernels: arbitrary small weighted graphs (isolated nodes, self-loops, several
// components, near-equal weights) through Leiden (both objectives, fixed and target-size resolutions), modularity,
// centrality and propagation, and a kNN list through knn_to_csr. Built and run by tools/fuzz.sh graph under
// AddressSanitizer + UndefinedBehaviorSanitizer with checked containers; a crash, an out-of-bounds access, UB or a
// broken guarantee (labels, connected communities, the reported modularity, centrality range) aborts the run.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "rbic/community.hpp"
#include "rbic/graph.hpp"

namespace {

using rbic::CsrGraph;

// Each community's members induce a connected subgraph (BFS inside the community).
bool communities_connected(const CsrGraph& g, const std::vector<std::int32_t>& membership) {
    const std::int64_t n = g.n;
    std::vector<std::uint8_t> seen(static_cast<std::size_t>(n), 0);
    std::vector<std::uint8_t> community_seen(static_cast<std::size_t>(n), 0);
    std::vector<std::int32_t> stack;
    for (std::int64_t s = 0; s < n; ++s) {
        if (seen[s]) continue;
        const std::int32_t c = membership[s];
        if (community_seen[c]) return false;  // a second piece of a community already visited
        community_seen[c] = 1;
        seen[s] = 1;
        stack.assign(1, static_cast<std::int32_t>(s));
        while (!stack.empty()) {
            const std::int32_t u = stack.back();
            stack.pop_back();
            for (std::int64_t e = g.indptr[u]; e < g.indptr[u + 1]; ++e) {
                const std::int32_t v = g.indices[e];
                if (!seen[v] && membership[v] == c) {
                    seen[v] = 1;
                    stack.push_back(v);
                }
            }
        }
    }
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // data[0]: node count; data[1]: options; data[2]: resolution; then (u, v, w) triples: an undirected edge.
    if (size < 3) return 0;
    const std::int64_t n = data[0] % 48;
    const std::uint8_t opt = data[1];
    std::map<std::pair<std::int32_t, std::int32_t>, float> edges;
    for (std::size_t t = 3; n > 0 && t + 2 < size; t += 3) {
        const auto u = static_cast<std::int32_t>(data[t] % n), v = static_cast<std::int32_t>(data[t + 1] % n);
        const float w = 0.25f + static_cast<float>(data[t + 2] % 16) / 8.0f;  // a few distinct values: ties
        edges[{std::min(u, v), std::max(u, v)}] = w;
    }
    // CSR with both directions, rows sorted by column (exact-size buffers: ASan sees any overrun).
    std::vector<std::vector<std::pair<std::int32_t, float>>> rows(static_cast<std::size_t>(n));
    for (const auto& [key, w] : edges) {
        rows[key.first].push_back({key.second, w});
        if (key.first != key.second) rows[key.second].push_back({key.first, w});
    }
    std::vector<std::int64_t> indptr(static_cast<std::size_t>(n) + 1, 0);
    std::vector<std::int32_t> indices;
    std::vector<float> weights;
    for (std::int64_t i = 0; i < n; ++i) {
        std::sort(rows[i].begin(), rows[i].end());
        for (const auto& [j, w] : rows[i]) {
            indices.push_back(j);
            weights.push_back(w);
        }
        indptr[i + 1] = static_cast<std::int64_t>(indices.size());
    }
    const CsrGraph g{n, indptr.data(), indices.data(), weights.data()};
    rbic::graph::validate(g, 1);  // a valid graph by construction: throwing here is a bug (uncaught: abort)

    rbic::community::LeidenParams p;
    p.objective = (opt & 1) ? rbic::community::Objective::cpm : rbic::community::Objective::modularity;
    p.resolution = (opt & 1) ? 0.02 + data[2] / 256.0 : 0.1 + data[2] / 64.0;
    p.seed = opt >> 4;
    p.max_iterations = (opt & 2) ? 1 + (opt >> 6) : -1;
    if (opt & 4) p.target_size = 1.0 + data[2] % 8;
    p.threads = 1 + ((opt >> 3) & 1);
    const auto r = rbic::community::leiden_partition(p, g, {});
    if (static_cast<std::int64_t>(r.membership.size()) != n || (n > 0 && r.n_communities < 1)) __builtin_trap();
    std::vector<std::int64_t> sizes(static_cast<std::size_t>(std::max<std::int32_t>(r.n_communities, 0)), 0);
    for (const std::int32_t c : r.membership) {
        if (c < 0 || c >= r.n_communities) __builtin_trap();
        ++sizes[c];
    }
    for (std::size_t c = 1; c < sizes.size(); ++c)
        if (sizes[c] == 0 || sizes[c] > sizes[c - 1]) __builtin_trap();  // labels 0..c-1, largest first
    if (r.levels.empty() || r.levels.back() != r.membership) __builtin_trap();
    if (!communities_connected(g, r.membership)) __builtin_trap();
    const double gamma = p.objective == rbic::community::Objective::cpm ? 1.0 : r.resolution;
    const double q = rbic::community::modularity(g, r.membership.data(), gamma, 1);
    if (!(std::fabs(q - r.modularity) <= 1e-9 * (1.0 + std::fabs(q)))) __builtin_trap();

    std::vector<float> central(static_cast<std::size_t>(n));
    const auto kind = (opt & 32) ? rbic::community::CentralityKind::pagerank : rbic::community::CentralityKind::degree;
    rbic::community::centrality(g, r.membership.data(), kind, central.data(), 1, {});
    std::vector<float> top(sizes.size(), 0.0f);
    for (std::int64_t i = 0; i < n; ++i) {
        if (!(central[i] >= 0.0f && central[i] <= 1.0f)) __builtin_trap();
        top[r.membership[i]] = std::max(top[r.membership[i]], central[i]);
    }
    for (const float t : top)
        if (t != 1.0f) __builtin_trap();  // each community's most central member scores 1

    if (n > 0) {
        std::vector<float> values(static_cast<std::size_t>(n)), out(static_cast<std::size_t>(n));
        std::vector<std::uint8_t> known(static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) {
            values[i] = static_cast<float>(i % 5) / 4.0f;
            known[i] = (i * 7 + data[2]) % 3 == 0;
        }
        known[0] = 1;
        rbic::graph::PropagateParams pp;
        pp.alpha = (data[2] % 11) / 10.0;
        pp.iterations = data[2] % 7;
        rbic::graph::propagate(pp, g, values.data(), known.data(), out.data(), {});
        for (std::int64_t i = 0; i < n; ++i)
            if (!(out[i] >= 0.0f && out[i] <= 1.0f)) __builtin_trap();  // averages of values in [0, 1]

        // The graph's rows as a kNN list (k = the largest degree, short rows padded with self entries, which
        // knn_to_csr drops) back to a symmetric CSR.
        std::int64_t k = 1;
        for (std::int64_t i = 0; i < n; ++i) k = std::max(k, indptr[i + 1] - indptr[i]);
        std::vector<std::int32_t> nb(static_cast<std::size_t>(n * k));
        std::vector<float> sim(static_cast<std::size_t>(n * k));
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < k; ++j) {
                const std::int64_t e = indptr[i] + j;
                nb[i * k + j] = e < indptr[i + 1] ? indices[e] : static_cast<std::int32_t>(i);
                sim[i * k + j] = e < indptr[i + 1] ? weights[e] : 1.0f;
            }
        rbic::graph::KnnCsrParams kp;
        kp.symmetrize = static_cast<rbic::graph::Symmetrize>(opt % 3);
        std::vector<std::int64_t> kptr(static_cast<std::size_t>(n) + 1);
        std::vector<std::int32_t> kidx(static_cast<std::size_t>(2 * n * k));
        std::vector<float> kw(static_cast<std::size_t>(2 * n * k));
        const std::int64_t nnz = rbic::graph::knn_to_csr(kp, {nb.data(), n, k}, {sim.data(), n, k}, kptr.data(),
                                                          kidx.data(), kw.data(), {});
        if (nnz != kptr[n] || nnz > 2 * n * k) __builtin_trap();
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t e = kptr[i]; e < kptr[i + 1]; ++e)
                if (kidx[e] == i || (e > kptr[i] && kidx[e] <= kidx[e - 1])) __builtin_trap();  // no loops, sorted
    }
    return 0;
}
