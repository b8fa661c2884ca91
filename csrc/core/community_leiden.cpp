// Deterministic parallel Leiden (Traag, Waltman & van Eck 2019, "From Louvain to Leiden").
//
// Determinism at any thread count comes from the local moving phase being *exactly* the sequential
// queue-based algorithm: the head of the queue is taken as a batch whose neighbour-community
// weights are gathered in parallel against a snapshot, then the moves are decided one node at a
// time in queue order with the current community totals. A node whose neighbour moved earlier in
// the same batch is regathered before its decision, so every decision sees the sequential state.
// Refinement is independent per community, and aggregation builds each row independently, so both
// parallelise without changing results. Randomness (node orders) comes from one seeded stream
// consumed on the calling thread only.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rbic/community.hpp"
#include "splitmix.hpp"

namespace rbic::community {

namespace {

using i32 = std::int32_t;
using i64 = std::int64_t;

// Nodes whose moves are gathered together. The result does not depend on it (see above). A node is
// regathered on the calling thread when a neighbour moved earlier in its batch, so the batch adapts:
// it halves while more than 1/8 of a batch needed regathering and doubles while under 1/64 did,
// between kMinBatch and n / 8 (kMaxBatchShare). Fewer, larger batches amortise the parallel launches.
constexpr i64 kMinBatch = 256;
constexpr i64 kStartBatch = 1024;
constexpr i64 kMaxBatchShare = 8;
constexpr i64 kGatherChunk = 64;
constexpr i64 kParallelWork = 65536;  // edge visits below which a step runs on the calling thread
constexpr int kMaxStableIterations = 100;  // max_iterations = -1 stops earlier once the partition is stable

std::vector<i32> permutation(i32 n, SplitMix64& rng) {
    std::vector<i32> p(static_cast<std::size_t>(n));
    for (i32 i = 0; i < n; ++i) p[i] = i;
    for (i32 i = n - 1; i > 0; --i) std::swap(p[i], p[rng.below(static_cast<std::uint64_t>(i) + 1)]);
    return p;
}

template <class W>
struct View {
    i32 n;
    const i64* indptr;
    const i32* idx;
    const W* w;
};

struct Owned {
    std::vector<i64> indptr;
    std::vector<i32> idx;
    std::vector<double> w;
    View<double> view() const {
        return {static_cast<i32>(indptr.size() - 1), indptr.data(), idx.data(), w.data()};
    }
};

// Threads, per-thread scratch and throttled Ctrl-C polling (calling thread only).
struct Ctx {
    int threads;
    TaskTeam* team = nullptr;  // the worker team of the whole call (set by with_team)
    Hooks loop_hooks;
    std::vector<std::vector<double>> acc;  // per thread: dense accumulator over community ids, kept all-zero
    std::vector<std::vector<i32>> touched;  // per thread: list of the ids set in acc (capacity n)
    // Per thread: one community's internal edges in local member numbers, and its refinement state.
    struct Sub {
        std::vector<i64> start;
        std::vector<i32> idx, rcomm, rsize, touched;
        std::vector<double> w, ext, rext, rtot, acc;
        void reset(i64 sz) {
            const auto m = static_cast<std::size_t>(sz);
            start.assign(m + 1, 0);
            idx.clear();
            w.clear();
            rcomm.resize(m);
            for (i64 k = 0; k < sz; ++k) rcomm[k] = static_cast<i32>(k);
            rsize.assign(m, 1);
            touched.resize(m);
            ext.resize(m);
            rext.resize(m);
            rtot.resize(m);
            acc.assign(m, 0.0);
        }
    };
    std::vector<Sub> sub;

    Ctx(i64 n, int requested, const Hooks& hooks) : threads(resolve_threads(requested)) {
        acc.assign(static_cast<std::size_t>(threads), std::vector<double>(static_cast<std::size_t>(n), 0.0));
        touched.assign(static_cast<std::size_t>(threads), std::vector<i32>(static_cast<std::size_t>(n)));
        sub.resize(static_cast<std::size_t>(threads));
        if (hooks.interrupt) {
            auto last = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
            auto interrupt = hooks.interrupt;
            loop_hooks.interrupt = [last, interrupt] {
                auto now = std::chrono::steady_clock::now();
                if (now - *last < std::chrono::milliseconds(20)) return false;
                *last = now;
                return interrupt();
            };
        }
    }
    // Runs body() on the calling thread while the other threads serve `team` (one team for the whole
    // call: a Leiden call runs thousands of short loops, and a thread-team start per loop would cost more
    // than the loops).
    template <class F>
    void with_team(F&& body) {
        rbic::with_team(threads, [&](TaskTeam& t) {
            threads = t.threads();
            team = &t;
            body();
            team = nullptr;
        });
    }
    // Runs fn(task, thread) for every task; inline on the calling thread when `work` (edge visits) is
    // too small to pay for waking a worker.
    template <class F>
    void run(i64 tasks, i64 work, F&& fn) {
        if (threads > 1 && work >= kParallelWork) {
            team->run(tasks, TaskFn(std::ref(fn)), loop_hooks);
            return;
        }
        for (i64 t = 0; t < tasks; ++t) fn(t, 0);
        if (loop_hooks.interrupt && loop_hooks.interrupt()) throw Interrupted();
    }
};

// Rows are visited in random order, so their first cache lines come from memory: ask for the row of
// a node a few steps ahead while working on the current one.
constexpr i64 kPrefetch = 4;
template <class W>
inline void prefetch_row(const View<W>& g, i32 i) {
    const i64 e = g.indptr[i];
    __builtin_prefetch(g.idx + e);
    __builtin_prefetch(g.w + e);
}

// Weights from node i to each neighbouring community other than its own (first-touch order), and to
// its own community (self-loop excluded).
template <class W>
inline i32 gather(const View<W>& g, i32 i, const i32* comm, double* acc, i32* touched, i32* out_c, double* out_w,
                  double& k_own) {
    i64 n_touched = 0;
    const i64 end = g.indptr[i + 1];
    for (i64 e = g.indptr[i]; e < end; ++e) {
        const i32 j = g.idx[e];
        if (j == i) continue;
        const i32 c = comm[j];
        if (acc[c] == 0.0) touched[n_touched++] = c;  // weights are > 0, so 0 means untouched
        acc[c] += g.w[e];
    }
    const i32 own = comm[i];
    i32 nc = 0;
    k_own = 0.0;
    for (i64 t = 0; t < n_touched; ++t) {
        const i32 c = touched[t];
        if (c == own) {
            k_own = acc[c];
        } else {
            out_c[nc] = c;
            out_w[nc] = acc[c];
            ++nc;
        }
        acc[c] = 0.0;
    }
    return nc;
}

// Queue-based fast local moving. comm: labels in [0, n) (changed in place). Returns whether a node moved.
template <class W>
bool local_move(const View<W>& g, const std::vector<double>& a, double gs, std::vector<i32>& comm,
                const std::vector<i32>& order, Ctx& ctx) {
    const i32 n = g.n;
    std::vector<double> tot(static_cast<std::size_t>(n), 0.0);
    std::vector<i32> cnt(static_cast<std::size_t>(n), 0);
    for (i32 i = 0; i < n; ++i) {
        tot[comm[i]] += a[i];
        ++cnt[comm[i]];
    }
    std::vector<i32> empty;
    for (i32 c = n - 1; c >= 0; --c) {
        if (cnt[c] == 0) empty.push_back(c);
    }
    std::vector<i32> queue(order);
    // Per node: (batch stamp of the last neighbour move << 1) | queued, one load per neighbour.
    std::vector<std::uint32_t> state(static_cast<std::size_t>(n), 1u);
    i64 head = 0, size = n;
    std::uint32_t stamp = 0;

    std::vector<i32> batch, n_cand, cand_c;
    std::vector<i64> off;
    std::vector<double> k_own, cand_w;
    bool moved = false;
    const i64 max_batch = std::max<i64>(kMinBatch, n / kMaxBatchShare);
    i64 batch_size = std::min(kStartBatch, max_batch);
    while (size > 0) {
        const i64 nb = std::min(size, batch_size);
        batch.resize(static_cast<std::size_t>(nb));
        off.resize(static_cast<std::size_t>(nb + 1));
        off[0] = 0;
        for (i64 b = 0; b < nb; ++b) {
            const i32 i = queue[(head + b) % n];
            batch[b] = i;
            off[b + 1] = off[b] + (g.indptr[i + 1] - g.indptr[i]);
        }
        head = (head + nb) % n;
        size -= nb;
        ++stamp;
        if (static_cast<i64>(cand_c.size()) < off[nb]) {
            cand_c.resize(static_cast<std::size_t>(off[nb]));
            cand_w.resize(static_cast<std::size_t>(off[nb]));
        }
        n_cand.resize(static_cast<std::size_t>(nb));
        k_own.resize(static_cast<std::size_t>(nb));
        ctx.run((nb + kGatherChunk - 1) / kGatherChunk, off[nb], [&](i64 t, int tid) {
            const i64 end = std::min(nb, (t + 1) * kGatherChunk);
            for (i64 b = t * kGatherChunk; b < end; ++b) {
                if (b + kPrefetch < end) prefetch_row(g, batch[b + kPrefetch]);
                n_cand[b] = gather(g, batch[b], comm.data(), ctx.acc[tid].data(), ctx.touched[tid].data(),
                                   cand_c.data() + off[b], cand_w.data() + off[b], k_own[b]);
            }
        });
        i64 regathered = 0;
        for (i64 b = 0; b < nb; ++b) {
            const i32 i = batch[b];
            if (b + kPrefetch < nb) prefetch_row(g, batch[b + kPrefetch]);
            state[i] &= ~1u;
            if (state[i] >> 1 == stamp) {
                ++regathered;
                n_cand[b] = gather(g, i, comm.data(), ctx.acc[0].data(), ctx.touched[0].data(), cand_c.data() + off[b],
                                   cand_w.data() + off[b], k_own[b]);
            }
            const i32 from = comm[i];
            const double ai = a[i];
            double best = cnt[from] == 1 ? 0.0 : k_own[b] - gs * ai * (tot[from] - ai);
            i32 to = from;
            for (i64 k = off[b]; k < off[b] + n_cand[b]; ++k) {
                const i32 c = cand_c[k];
                const double v = cand_w[k] - gs * ai * tot[c];
                if (v > best || (v == best && to != from && c < to)) {
                    best = v;
                    to = c;
                }
            }
            if (to == from && best < 0.0 && !empty.empty()) {  // alone is better than anywhere reachable
                to = empty.back();
                empty.pop_back();
            }
            if (to == from) continue;
            moved = true;
            tot[from] -= ai;
            if (--cnt[from] == 0) {
                tot[from] = 0.0;
                empty.push_back(from);
            }
            tot[to] += ai;
            ++cnt[to];
            comm[i] = to;
            for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                const i32 j = g.idx[e];
                const std::uint32_t st = state[j];
                state[j] = stamp << 1 | (st & 1u);
                if (!(st & 1u) && comm[j] != to) {
                    queue[(head + size) % n] = j;
                    ++size;
                    state[j] |= 1u;
                }
            }
        }
        if (regathered * 8 > nb) {
            batch_size = std::max(kMinBatch, batch_size / 2);
        } else if (regathered * 64 < nb) {
            batch_size = std::min(max_batch, batch_size * 2);
        }
    }
    return moved;
}

// Relabels comm to 0..c-1 by first occurrence; returns c.
i32 compact(std::vector<i32>& comm) {
    std::vector<i32> label(comm.size(), -1);
    i32 c = 0;
    for (i32& x : comm) {
        if (label[x] < 0) label[x] = c++;
        x = label[x];
    }
    return c;
}

// Greedy Leiden refinement: inside each community S of `comm`, starting from singletons, each node
// that is still alone and well connected to S joins the well-connected refined community of S
// with the largest non-negative gain (ties: the one whose seed comes first in `order`). Merges
// follow edges, so every refined community is connected. Returns refined labels (node ids of their
// first member's seed). One pass over the rows of S copies its internal edges, in local member
// numbers, into per-thread scratch; the greedy merging then works on that small subgraph only.
template <class W>
std::vector<i32> refine(const View<W>& g, const std::vector<double>& a, double gs, const std::vector<i32>& comm,
                        i32 n_comm, const std::vector<i32>& order, Ctx& ctx) {
    const i32 n = g.n;
    std::vector<i64> start(static_cast<std::size_t>(n_comm) + 1, 0);
    for (i32 i = 0; i < n; ++i) ++start[comm[i] + 1];
    for (i32 c = 0; c < n_comm; ++c) start[c + 1] += start[c];
    std::vector<i32> members(static_cast<std::size_t>(n)), local(static_cast<std::size_t>(n));
    {
        std::vector<i64> pos(start.begin(), start.end() - 1);
        for (i32 i : order) {
            local[i] = static_cast<i32>(pos[comm[i]] - start[comm[i]]);
            members[pos[comm[i]]++] = i;
        }
    }
    std::vector<i32> rcomm(static_cast<std::size_t>(n));
    ctx.run(n_comm, 2 * g.indptr[n], [&](i64 s, int tid) {
        const i32* mem = members.data() + start[s];
        const i64 sz = start[s + 1] - start[s];
        if (sz == 1) {
            rcomm[mem[0]] = mem[0];
            return;
        }
        Ctx::Sub& sub = ctx.sub[tid];
        sub.reset(sz);
        double a_s = 0.0;
        for (i64 k = 0; k < sz; ++k) {
            const i32 i = mem[k];
            if (k + kPrefetch < sz) prefetch_row(g, mem[k + kPrefetch]);
            double x = 0.0;
            for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                const i32 j = g.idx[e];
                if (j != i && comm[j] == s) {
                    sub.idx.push_back(local[j]);
                    sub.w.push_back(g.w[e]);
                    x += g.w[e];
                }
            }
            sub.start[k + 1] = static_cast<i64>(sub.idx.size());
            sub.ext[k] = sub.rext[k] = x;
            sub.rtot[k] = a[i];
            a_s += a[i];
        }
        i32* rc = sub.rcomm.data();
        i32* rsize = sub.rsize.data();
        double* rtot = sub.rtot.data();
        double* rext = sub.rext.data();
        double* acc = sub.acc.data();
        i32* touched = sub.touched.data();
        for (i64 k = 0; k < sz; ++k) {
            if (rc[k] != k || rsize[k] != 1) continue;
            const double ak = a[mem[k]];
            if (sub.ext[k] < gs * ak * (a_s - ak)) continue;  // not well connected to S
            i64 n_touched = 0;
            for (i64 e = sub.start[k]; e < sub.start[k + 1]; ++e) {
                const i32 c = rc[sub.idx[e]];
                if (acc[c] == 0.0) touched[n_touched++] = c;
                acc[c] += sub.w[e];
            }
            i32 best = -1;
            double best_gain = 0.0, best_w = 0.0;
            for (i64 t = 0; t < n_touched; ++t) {
                const i32 c = touched[t];
                const double w = acc[c];
                acc[c] = 0.0;
                if (rext[c] < gs * rtot[c] * (a_s - rtot[c])) continue;  // target not well connected
                const double gain = w - gs * ak * rtot[c];
                if (gain < 0.0) continue;
                if (best < 0 || gain > best_gain || (gain == best_gain && c < best)) {
                    best = c;
                    best_gain = gain;
                    best_w = w;
                }
            }
            if (best < 0) continue;
            rc[k] = best;
            rsize[k] = 0;
            ++rsize[best];
            rtot[best] += ak;
            rext[best] += sub.ext[k] - 2.0 * best_w;
        }
        for (i64 k = 0; k < sz; ++k) rcomm[mem[k]] = mem[rc[k]];
    });
    return rcomm;
}

// Collapses each group of `group` (labels in [0, n_group)) into one node. Row order and neighbour
// order follow node order, so the result is the same at any thread count.
template <class W>
Owned aggregate(const View<W>& g, const std::vector<i32>& group, i32 n_group, Ctx& ctx) {
    const i32 n = g.n;
    std::vector<i64> start(static_cast<std::size_t>(n_group) + 1, 0);
    for (i32 i = 0; i < n; ++i) ++start[group[i] + 1];
    for (i32 c = 0; c < n_group; ++c) start[c + 1] += start[c];
    std::vector<i32> members(static_cast<std::size_t>(n));
    {
        std::vector<i64> pos(start.begin(), start.end() - 1);
        for (i32 i = 0; i < n; ++i) members[pos[group[i]]++] = i;
    }
    constexpr i64 kRows = 512;
    const i64 tasks = (n_group + kRows - 1) / kRows;
    std::vector<std::vector<i32>> cols(static_cast<std::size_t>(tasks));
    std::vector<std::vector<double>> ws(static_cast<std::size_t>(tasks));
    std::vector<i64> row_len(static_cast<std::size_t>(n_group));
    ctx.run(tasks, g.indptr[n], [&](i64 t, int tid) {
        double* acc = ctx.acc[tid].data();
        i32* touched = ctx.touched[tid].data();
        const i64 end = std::min<i64>(n_group, (t + 1) * kRows);
        for (i64 c = t * kRows; c < end; ++c) {
            i64 n_touched = 0;
            for (i64 k = start[c]; k < start[c + 1]; ++k) {
                const i32 i = members[k];
                if (k + kPrefetch < n) prefetch_row(g, members[k + kPrefetch]);
                for (i64 e = g.indptr[i]; e < g.indptr[i + 1]; ++e) {
                    const i32 d = group[g.idx[e]];
                    if (acc[d] == 0.0) touched[n_touched++] = d;
                    acc[d] += g.w[e];
                }
            }
            row_len[c] = n_touched;
            for (i64 k = 0; k < n_touched; ++k) {
                const i32 d = touched[k];
                cols[t].push_back(d);
                ws[t].push_back(acc[d]);
                acc[d] = 0.0;
            }
        }
    });
    Owned out;
    out.indptr.assign(static_cast<std::size_t>(n_group) + 1, 0);
    for (i32 c = 0; c < n_group; ++c) out.indptr[c + 1] = out.indptr[c] + row_len[c];
    out.idx.reserve(static_cast<std::size_t>(out.indptr[n_group]));
    out.w.reserve(static_cast<std::size_t>(out.indptr[n_group]));
    for (i64 t = 0; t < tasks; ++t) {
        out.idx.insert(out.idx.end(), cols[t].begin(), cols[t].end());
        out.w.insert(out.w.end(), ws[t].begin(), ws[t].end());
    }
    return out;
}

// Labels ordered by community size (largest first), ties by smallest member.
std::vector<i32> canonical(const std::vector<i32>& memb) {
    std::vector<i32> m(memb);
    const i32 c = compact(m);  // first-occurrence order == smallest member order
    std::vector<i64> size(static_cast<std::size_t>(c), 0);
    for (i32 x : m) ++size[x];
    std::vector<i32> by_size(static_cast<std::size_t>(c));
    for (i32 k = 0; k < c; ++k) by_size[k] = k;
    std::stable_sort(by_size.begin(), by_size.end(), [&](i32 x, i32 y) { return size[x] > size[y]; });
    std::vector<i32> rank(static_cast<std::size_t>(c));
    for (i32 k = 0; k < c; ++k) rank[by_size[k]] = k;
    for (i32& x : m) x = rank[x];
    return m;
}

struct Run {
    std::vector<i32> membership;  // canonical
    std::vector<std::vector<i32>> levels;
    int iterations = 0;
};

Run leiden_once(const LeidenParams& p, const CsrGraph& graph, double gamma, Ctx& ctx, const Hooks& hooks) {
    const i32 n0 = static_cast<i32>(graph.n);
    Run run;
    std::vector<i32> memb(static_cast<std::size_t>(n0));
    for (i32 i = 0; i < n0; ++i) memb[i] = i;
    std::vector<double> a0(static_cast<std::size_t>(n0), 1.0);
    double scale = 1.0;
    if (p.objective == Objective::modularity) {
        scale = 0.0;
        for (i32 i = 0; i < n0; ++i) {
            double k = 0.0;
            for (i64 e = graph.indptr[i]; e < graph.indptr[i + 1]; ++e) k += graph.weights[e];
            a0[i] = k;
            scale += k;
        }
    }
    if (n0 == 0 || graph.nnz() == 0 || scale <= 0.0) {
        run.membership = canonical(memb);
        run.levels.push_back(run.membership);
        return run;
    }
    const double gs = gamma / scale;
    const View<float> g0{n0, graph.indptr, graph.indices, graph.weights};
    SplitMix64 rng{p.seed};
    const int max_it = p.max_iterations < 0 ? kMaxStableIterations : p.max_iterations;
    bool coarse_changed = true;  // whether the last iteration's aggregate levels changed its first pass's result
    for (int it = 0; it < max_it; ++it) {
        std::vector<i32> first_pass;  // the partition after the level-0 local moving (compacted)
        std::vector<i32> comm(memb);
        std::vector<i32> orig_to_node(static_cast<std::size_t>(n0));
        for (i32 i = 0; i < n0; ++i) orig_to_node[i] = i;
        Owned cur;
        std::vector<double> a(a0);
        for (int level = 0;; ++level) {
            const i32 n = level == 0 ? n0 : cur.view().n;
            const std::vector<i32> order = permutation(n, rng);
            if (level == 0) {
                // A later iteration whose first pass moves no node, after an iteration whose aggregate
                // levels changed nothing, keeps its partition: stop here instead of refining and
                // aggregating only to confirm it.
                if (!local_move(g0, a, gs, comm, order, ctx) && it > 0 && !coarse_changed) break;
            } else {
                local_move(cur.view(), a, gs, comm, order, ctx);
            }
            const i32 n_comm = compact(comm);
            if (level == 0) first_pass = comm;
            if (it == 0) {
                std::vector<i32> lv(static_cast<std::size_t>(n0));
                for (i32 v = 0; v < n0; ++v) lv[v] = comm[orig_to_node[v]];
                lv = canonical(lv);
                if (run.levels.empty() || run.levels.back() != lv) run.levels.push_back(std::move(lv));
            }
            if (n_comm == n) break;
            std::vector<i32> group =
                level == 0 ? refine(g0, a, gs, comm, n_comm, order, ctx) : refine(cur.view(), a, gs, comm, n_comm, order, ctx);
            i32 n_group = compact(group);
            if (n_group == n) {  // refinement merged nothing: aggregate the moved partition itself
                group = comm;
                n_group = n_comm;
            }
            Owned next = level == 0 ? aggregate(g0, group, n_group, ctx) : aggregate(cur.view(), group, n_group, ctx);
            std::vector<double> a_next(static_cast<std::size_t>(n_group), 0.0);
            std::vector<i32> comm_next(static_cast<std::size_t>(n_group));
            for (i32 i = 0; i < n; ++i) {
                a_next[group[i]] += a[i];
                comm_next[group[i]] = comm[i];
            }
            for (i32 v = 0; v < n0; ++v) orig_to_node[v] = group[orig_to_node[v]];
            cur = std::move(next);
            a = std::move(a_next);
            comm = std::move(comm_next);
        }
        std::vector<i32> next_memb(static_cast<std::size_t>(n0));
        for (i32 v = 0; v < n0; ++v) next_memb[v] = comm[orig_to_node[v]];
        compact(next_memb);
        coarse_changed = !first_pass.empty() && next_memb != first_pass;
        run.iterations = it + 1;
        const bool stable = next_memb == memb;
        memb = std::move(next_memb);
        if (hooks.progress) hooks.progress(it + 1, p.max_iterations < 0 ? it + 2 : p.max_iterations);
        if (stable) break;
    }
    run.membership = canonical(memb);
    if (run.levels.back() == run.membership) run.levels.pop_back();
    run.levels.push_back(run.membership);
    return run;
}

// Median size of the communities with at least two members (isolated nodes do not count); 1 if none.
double median_size(const std::vector<i32>& memb) {
    std::vector<i64> size;
    for (i32 x : memb) {
        if (x >= static_cast<i32>(size.size())) size.resize(static_cast<std::size_t>(x) + 1, 0);
        ++size[x];
    }
    std::vector<i64> big;
    for (i64 s : size) {
        if (s >= 2) big.push_back(s);
    }
    if (big.empty()) return 1.0;
    std::sort(big.begin(), big.end());
    const std::size_t m = big.size();
    return m % 2 ? static_cast<double>(big[m / 2]) : 0.5 * static_cast<double>(big[m / 2 - 1] + big[m / 2]);
}

}  // namespace

LeidenResult leiden_partition(const LeidenParams& p, const CsrGraph& g, const Hooks& hooks) {
    if (!(p.resolution > 0.0) || !std::isfinite(p.resolution)) {
        throw std::invalid_argument("resolution must be a finite number > 0, got " + std::to_string(p.resolution));
    }
    if (p.max_iterations == 0 || p.max_iterations < -1) {
        throw std::invalid_argument("max_iterations must be -1 (until stable) or >= 1");
    }
    if (!(p.target_size >= 0.0) || !std::isfinite(p.target_size)) {
        throw std::invalid_argument("target_size must be a finite number >= 1 (or 0/None for off)");
    }
    Ctx ctx(g.n, p.threads, hooks);
    LeidenResult out;
    ctx.with_team([&] {
        Hooks iteration_hooks{{}, p.target_size > 0.0 ? std::function<void(i64, i64)>{} : hooks.progress};
        double gamma = p.resolution;
        Run run = leiden_once(p, g, gamma, ctx, iteration_hooks);
        if (p.target_size > 0.0) {
            // Larger gamma gives smaller communities. Bracket the target by factors of 4, then bisect
            // log(gamma); keep the run whose median size is closest to the target in log ratio.
            const double target = std::max(1.0, p.target_size);
            auto miss = [&](const Run& r) { return std::fabs(std::log(median_size(r.membership) / target)); };
            Run best = run;
            double best_gamma = gamma, best_miss = miss(run);
            const bool too_big = median_size(run.membership) > target;
            double lo = gamma, hi = gamma;  // median(lo) >= target >= median(hi) once bracketed
            constexpr int kSteps = 12;
            int runs = 1;
            for (int k = 0; k < kSteps; ++k) {
                const double next = too_big ? hi * 4.0 : lo / 4.0;
                Run r = leiden_once(p, g, next, ctx, iteration_hooks);
                ++runs;
                if (hooks.progress) hooks.progress(runs, runs + 6);
                const double m = median_size(r.membership);
                if (miss(r) < best_miss) {
                    best = r;
                    best_gamma = next;
                    best_miss = miss(r);
                }
                if (too_big) {
                    lo = hi;
                    hi = next;
                    if (m <= target) break;
                } else {
                    hi = lo;
                    lo = next;
                    if (m >= target) break;
                }
            }
            for (int k = 0; k < 6 && best_miss > 0.0; ++k) {
                const double mid = std::sqrt(lo * hi);
                Run r = leiden_once(p, g, mid, ctx, iteration_hooks);
                ++runs;
                if (hooks.progress) hooks.progress(runs, runs + 5 - k);
                const double m = median_size(r.membership);
                if (miss(r) < best_miss) {
                    best = r;
                    best_gamma = mid;
                    best_miss = miss(r);
                }
                if (m > target) lo = mid; else hi = mid;
            }
            run = std::move(best);
            gamma = best_gamma;
        }
        out.membership = std::move(run.membership);
        out.levels = std::move(run.levels);
        out.n_communities = out.membership.empty()
                                ? 0
                                : *std::max_element(out.membership.begin(), out.membership.end()) + 1;
        out.resolution = gamma;
        out.iterations = run.iterations;
    });
    out.modularity = modularity(g, out.membership.data(), p.objective == Objective::modularity ? out.resolution : 1.0,
                                p.threads);
    if (hooks.progress) hooks.progress(1, 1);
    return out;
}

}  // namespace rbic::community
