// Approximate cosine kNN graph: IVF partition by seeded spherical k-means, then a self-join over
// pairs of nearby lists, each pair one blocked product feeding the top-k lists of both sides.
#include "rbic/knn_approx.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <memory>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "knn_kernels.hpp"
#include "knn_rows.hpp"
#include "splitmix.hpp"

namespace rbic::knn {
namespace {

using detail::Kernels;
using detail::kPanel;
using detail::kRowsV;

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

// Rows per chunk of the row-by-centroid products (a multiple of kRowsV) and centroids per product.
constexpr std::int64_t kAssignRows = 240;
constexpr std::int64_t kCentroidBlock = 256;
// Chunk pairs per parallel task of the join: bounds the time between two Ctrl-C / progress polls.
constexpr std::int64_t kPairsPerTask = 8;
// Progress unit: 2^20 multiply-adds.
constexpr int kWorkShift = 20;
// int8 join: candidates kept per row beyond k, re-scored in fp32 (an int8 score errs by about 1e-3 on unit rows,
// so a true neighbour ranked past k + kInt8Margin by its int8 score needs that many near-ties).
constexpr std::int64_t kInt8Margin = 8;

// m distinct values of [0, n) in random order (a partial Fisher-Yates shuffle).
std::vector<std::int32_t> sample_without_replacement(std::int64_t n, std::int64_t m, std::uint64_t seed) {
    std::vector<std::int32_t> p(n);
    std::iota(p.begin(), p.end(), 0);
    SplitMix64 rng{seed};
    // A modulo draw (bias < n / 2^64), not SplitMix64::below: this draw fixes what a seed means for the graph.
    for (std::int64_t i = 0; i < m; ++i) std::swap(p[i], p[i + static_cast<std::int64_t>(rng.next() % (n - i))]);
    p.resize(m);
    return p;
}

// Rows packed as transposed panels of kPanel rows (the fixed side of block_dot_f32), zero padded.
struct Panels {
    std::vector<float> data;
    std::vector<float> inv;
    std::int64_t valid = 0, padded = 0;

    void pack(const float* const* rows, const float* inv_rows, std::int64_t count, std::int64_t d) {
        valid = count;
        padded = round_up(count, kPanel);
        data.assign(padded * d, 0.0f);
        inv.assign(padded, 0.0f);
        std::copy_n(inv_rows, count, inv.begin());
        for (std::int64_t r = 0; r < count; ++r) {
            float* dst = data.data() + (r / kPanel) * d * kPanel + r % kPanel;
            for (std::int64_t k = 0; k < d; ++k) dst[k * kPanel] = rows[r][k];
        }
    }
    const float* panel(std::int64_t first_row, std::int64_t d) const { return data.data() + first_row * d; }
};

// Top-K lists of rows (by position in the list-ordered copy), sorted by (similarity desc, original
// index asc); thr[row] is the similarity a candidate must reach (-inf until the list is full). The
// kept set is the best K of all offers under that total order, whatever the order of the offers,
// which is what makes the result independent of the thread count. Callers hold the row's lock.
struct TopLists {
    std::int64_t K;
    std::vector<float> sim;
    std::vector<std::int32_t> idx;
    std::vector<std::int32_t> count;
    std::vector<float> thr;

    TopLists(std::int64_t n, std::int64_t k)
        : K(k), sim(n * k), idx(n * k), count(n, 0), thr(n, -std::numeric_limits<float>::infinity()) {}

    void offer(std::int64_t row, float s, std::int32_t cand) {
        float* S = sim.data() + row * K;
        std::int32_t* I = idx.data() + row * K;
        if (!detail::insert_sorted(S, I, count[row], K, s, cand)) return;
        if (count[row] == K) thr[row] = S[K - 1];
    }
};

// Hooks for one phase of the run: its progress (done of `units`) mapped onto [offset, offset + span) of
// one overall total, so the caller sees one total from start to end.
Hooks phase_hooks(const Hooks& hooks, std::int64_t offset, std::int64_t span, std::int64_t units, std::int64_t total) {
    Hooks h{hooks.interrupt, {}};
    if (hooks.progress) {
        h.progress = [&hooks, offset, span, units, total](std::int64_t done, std::int64_t) {
            const double f = units > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(units)) : 1.0;
            hooks.progress(offset + static_cast<std::int64_t>(f * static_cast<double>(span)), total);
        };
    }
    return h;
}

template <typename T>
class ApproxJoin {
public:
    // i8: the int8 kernels for the join, or null (fp32).
    ApproxJoin(const ApproxParams& p, MatrixView<const T> x, const Kernels& kern, const Kernels* i8)
        : p_(p), x_(x), n_(x.rows), d_(x.cols), d4_((x.cols + 3) / 4), kern_(kern), i8_(i8),
          nt_(resolve_threads(p.threads)) {
        zero_row_.assign(d_, 0.0f);
        zero_codes_.assign(d4_, 0x80808080u);  // u8 128 = code 0
        bs_ = std::clamp<std::int64_t>(131072 / d_, 48, 384);
    }

    // Phase 0: checks and inverse norms (throws on bad rows).
    void norms(const Hooks& hooks) { inv_ = detail::checked_inverse_norms(x_, p_.normalize, p_.threads, hooks, kern_); }

    // Phase 1: spherical k-means on a seeded sample of unit rows: the centroids (cent_, packed in cpanels_).
    void train(std::int64_t nlist, const Hooks& hooks) {
        const std::int64_t ts = std::min(n_, std::max(nlist, p_.train_per_list * nlist));
        const std::vector<std::int32_t> pick = sample_without_replacement(n_, ts, p_.seed);
        // Unit rows of the sample (zero rows of raw inner-product input stay zero).
        std::vector<float> s(ts * d_);
        {
            std::vector<std::vector<float>> tmp(nt_);
            parallel_for(ts, nt_, Hooks{hooks.interrupt, {}}, [&](std::int64_t i, int tid) {
                const float* row = detail::row_as_f32(x_, pick[i], kern_, tmp[tid]);
                double ss = 0;
                for (std::int64_t k = 0; k < d_; ++k) ss += static_cast<double>(row[k]) * row[k];
                const float sc = ss > 0 ? static_cast<float>(1.0 / std::sqrt(ss)) : 0.0f;
                for (std::int64_t k = 0; k < d_; ++k) s[i * d_ + k] = row[k] * sc;
            });
        }
        // Init: the first nlist sampled rows (a uniform random choice).
        nlist_ = nlist;
        cent_.assign(s.begin(), s.begin() + nlist * d_);
        std::vector<float> ones(ts, 1.0f);
        std::vector<const float*> rows(ts);
        for (std::int64_t i = 0; i < ts; ++i) rows[i] = s.data() + i * d_;
        std::vector<std::int32_t> assign(ts);
        std::vector<float> best(ts);
        for (int it = 0; it < p_.kmeans_iters; ++it) {
            pack_centroids();
            nearest_centroids(
                ts, [&](std::int64_t r, float*) { return rows[r]; }, ones.data(), assign.data(), best.data(),
                Hooks{hooks.interrupt, {}});
            update_centroids(s, assign, best, Hooks{hooks.interrupt, {}});
        }
        pack_centroids();
    }

    // Phase 2: every row to its most similar centroid; rows copied list by list into xr_.
    void partition(const Hooks& hooks) {
        std::vector<std::int32_t> assign(n_);
        std::vector<float> best(n_);
        std::vector<std::vector<float>> tmp(nt_);
        nearest_centroids(
            n_,
            [&](std::int64_t r, float* buf) -> const float* {
                if constexpr (std::is_same_v<T, float>) {
                    return x_.row(r);
                } else {
                    kern_.fp16_to_f32(x_.row(r), buf, d_);
                    return buf;
                }
            },
            inv_.data(),
            assign.data(), best.data(), hooks);
        // Counting sort, stable: a list holds its rows by ascending index.
        offsets_.assign(nlist_ + 1, 0);
        for (std::int64_t r = 0; r < n_; ++r) ++offsets_[assign[r] + 1];
        std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());
        ids_.resize(n_);
        {
            std::vector<std::int64_t> fill(offsets_.begin(), offsets_.end() - 1);
            for (std::int64_t r = 0; r < n_; ++r) ids_[fill[assign[r]]++] = static_cast<std::int32_t>(r);
        }
        assign.clear();
        assign.shrink_to_fit();
        xr_.resize(n_ * d_);
        invr_.resize(n_);
        constexpr std::int64_t kChunk = 1024;
        parallel_for((n_ + kChunk - 1) / kChunk, nt_, Hooks{hooks.interrupt, {}}, [&](std::int64_t c, int tid) {
            for (std::int64_t q = c * kChunk; q < std::min(n_, (c + 1) * kChunk); ++q) {
                const float* row = detail::row_as_f32(x_, ids_[q], kern_, tmp[tid]);
                std::copy_n(row, d_, xr_.data() + q * d_);
                invr_[q] = inv_[ids_[q]];
            }
        });
    }

    // int8 join: codes, scales and correction terms of every position (detail::quantize_row).
    void quantize(const Hooks& hooks) {
        codes_.assign(n_ * d4_, 0x80808080u);
        scale_.resize(n_);
        corr_.resize(n_);
        std::vector<std::vector<double>> a(nt_, std::vector<double>(d_));
        constexpr std::int64_t kChunk = 1024;
        parallel_for((n_ + kChunk - 1) / kChunk, nt_, Hooks{hooks.interrupt, {}}, [&](std::int64_t c, int tid) {
            for (std::int64_t q = c * kChunk; q < std::min(n_, (c + 1) * kChunk); ++q) {
                std::int64_t sum = 0;
                scale_[q] = detail::quantize_row(xr_.data() + q * d_, invr_[q], d_, a[tid].data(),
                                                 reinterpret_cast<std::uint8_t*>(codes_.data() + q * d4_), sum);
                corr_[q] = static_cast<std::int32_t>(128 * sum);
            }
        });
    }

    // Every list's lists by centroid similarity, itself first (ties: the smaller list): order_, nlist x nlist.
    void rank_lists(const Hooks& hooks) {
        order_.assign(nlist_ * nlist_, 0);
        centroid_scores(
            [&](std::int64_t a, const float* sc, int) {
                std::int32_t* o = order_.data() + a * nlist_;
                std::iota(o, o + nlist_, 0);
                std::swap(o[0], o[a]);  // itself first
                std::sort(o + 1, o + nlist_,
                          [&](std::int32_t u, std::int32_t v) { return sc[u] > sc[v] || (sc[u] == sc[v] && u < v); });
            },
            Hooks{hooks.interrupt, {}});
    }

    // The smallest nprobe at which at least `target` of the exact neighbour pairs of `rows` (positions,
    // with their exact lists in `exact`) fall in joined list pairs. A pair (i, j) is joined when the list
    // of j is among the first nprobe of i's list, or the other way round; lists grown for small lists
    // only add pairs, so the recall on these rows is at least the target.
    std::int64_t choose_nprobe(const std::vector<std::int32_t>& rows, const TopLists& exact, double target) const {
        std::vector<std::int32_t> list_of_pos(n_), list_of_id(n_);
        for (std::int64_t l = 0; l < nlist_; ++l) {
            for (std::int64_t q = offsets_[l]; q < offsets_[l + 1]; ++q) {
                list_of_pos[q] = static_cast<std::int32_t>(l);
                list_of_id[ids_[q]] = static_cast<std::int32_t>(l);
            }
        }
        const auto rank = [&](std::int32_t a, std::int32_t b) {
            const std::int32_t* o = order_.data() + static_cast<std::int64_t>(a) * nlist_;
            return static_cast<std::int64_t>(std::find(o, o + nlist_, b) - o);
        };
        std::vector<std::int64_t> need;
        for (std::size_t i = 0; i < rows.size(); ++i) {
            const std::int32_t la = list_of_pos[rows[i]];
            for (std::int64_t m = 0; m < exact.count[i]; ++m) {
                const std::int32_t lb = list_of_id[exact.idx[i * exact.K + m]];
                need.push_back(std::min(rank(la, lb), rank(lb, la)) + 1);
            }
        }
        if (need.empty()) return 1;
        std::sort(need.begin(), need.end());
        const auto at = static_cast<std::size_t>(std::ceil(target * static_cast<double>(need.size())));
        return need[std::min(need.size(), std::max<std::size_t>(at, 1)) - 1];
    }

    // Phase 3 setup: list pairs from each list's nprobe nearest lists (order_), cut into chunk pairs.
    // Returns the join work in progress units.
    std::int64_t plan(std::int64_t nprobe, std::int64_t K) {
        // Grown past nprobe while the probed lists hold fewer than K + 1 rows, so every row meets at
        // least K candidates.
        std::vector<std::vector<std::int32_t>> probe(nlist_);
        for (std::int64_t a = 0; a < nlist_; ++a) {
            if (list_size(a) == 0) continue;
            const std::int32_t* o = order_.data() + a * nlist_;
            std::int64_t rows = 0;
            for (std::int64_t m = 0; m < nlist_; ++m) {
                if (list_size(o[m]) == 0) continue;
                if (static_cast<std::int64_t>(probe[a].size()) >= nprobe && rows >= K + 1) break;
                probe[a].push_back(o[m]);
                rows += list_size(o[m]);
            }
        }
        std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
        for (std::int64_t a = 0; a < nlist_; ++a) {
            for (std::int32_t b : probe[a]) pairs.emplace_back(std::min<std::int32_t>(a, b), std::max<std::int32_t>(a, b));
        }
        std::sort(pairs.begin(), pairs.end());
        pairs.erase(std::unique(pairs.begin(), pairs.end()), pairs.end());
        probe.clear();
        // Chunks: each list cut into near-equal pieces of at most bs_ rows.
        first_chunk_.assign(nlist_ + 1, 0);
        for (std::int64_t l = 0; l < nlist_; ++l) {
            const std::int64_t pieces = (list_size(l) + bs_ - 1) / bs_;
            for (std::int64_t c = 0; c < pieces; ++c) {
                chunk_begin_.push_back(offsets_[l] + list_size(l) * c / pieces);
                chunk_end_.push_back(offsets_[l] + list_size(l) * (c + 1) / pieces);
            }
            first_chunk_[l + 1] = static_cast<std::int64_t>(chunk_begin_.size());
        }
        const std::int64_t nchunks = static_cast<std::int64_t>(chunk_begin_.size());
        // Partners of each fixed chunk a: chunks b >= a of the paired lists.
        std::vector<std::vector<std::int32_t>> partners(nchunks);
        for (const auto& [la, lb] : pairs) {
            for (std::int64_t a = first_chunk_[la]; a < first_chunk_[la + 1]; ++a) {
                for (std::int64_t b = std::max(a, first_chunk_[lb]); b < first_chunk_[lb + 1]; ++b) {
                    partners[a].push_back(static_cast<std::int32_t>(b));
                }
            }
        }
        std::int64_t work = 0;
        scored_ = 0;
        for (std::int64_t a = 0; a < nchunks; ++a) {
            std::sort(partners[a].begin(), partners[a].end());
            for (std::size_t s = 0; s < partners[a].size(); s += kPairsPerTask) {
                const std::size_t e = std::min(partners[a].size(), s + kPairsPerTask);
                Task t{a, static_cast<std::int64_t>(partner_.size() + s), static_cast<std::int64_t>(partner_.size() + e), 0};
                std::int64_t rows = 0;
                for (std::size_t m = s; m < e; ++m) {
                    const std::int64_t b = partners[a][m];
                    rows += chunk_rows(b);
                    scored_ += chunk_rows(a) * chunk_rows(b) * (b == a ? 1 : 2);
                }
                t.work = std::max<std::int64_t>(1, (chunk_rows(a) * rows * d_) >> kWorkShift);
                work += t.work;
                tasks_.push_back(t);
            }
            partner_.insert(partner_.end(), partners[a].begin(), partners[a].end());
        }
        return work;
    }

    // Phase 3: the join. Fills `top` (rows by position).
    void join(TopLists& top, const Hooks& hooks) {
        const std::int64_t nchunks = static_cast<std::int64_t>(chunk_begin_.size());
        locks_.reset(new std::mutex[nchunks]);
        struct Scratch {
            Panels fixed;
            std::vector<const float*> rows;
            std::vector<std::uint32_t> code_panels;  // int8: the fixed chunk's s8 code panels
            std::vector<const std::uint32_t*> code_rows;
            std::vector<std::int32_t> corr;
            std::vector<float> inv, ct;
            std::vector<std::int32_t> hits;
        };
        std::vector<Scratch> scratch(nt_);
        parallel_for(
            static_cast<std::int64_t>(tasks_.size()), nt_, hooks,
            [&](std::int64_t t, int tid) {
                const Task& task = tasks_[t];
                Scratch& s = scratch[tid];
                const std::int64_t a = task.a, a0 = chunk_begin_[a], na = chunk_rows(a);
                const std::int64_t fixed = round_up(na, kPanel);
                if (i8_) {
                    s.code_panels.assign(fixed * d4_, 0);
                    detail::pack_code_panels(codes_.data() + a0 * d4_, na, d4_, s.code_panels.data());
                    s.corr.assign(fixed, 0);
                    std::copy_n(corr_.data() + a0, na, s.corr.begin());
                    s.fixed.inv.assign(fixed, 0.0f);
                    std::copy_n(scale_.data() + a0, na, s.fixed.inv.begin());
                } else {
                    s.rows.resize(na);
                    for (std::int64_t r = 0; r < na; ++r) s.rows[r] = xr_.data() + (a0 + r) * d_;
                    s.fixed.pack(s.rows.data(), invr_.data() + a0, na, d_);
                }
                for (std::int64_t m = task.p0; m < task.p1; ++m) {
                    const std::int64_t b = partner_[m], b0 = chunk_begin_[b], nb = chunk_rows(b);
                    const std::int64_t padded = round_up(nb, kRowsV);
                    s.inv.assign(padded, 0.0f);
                    s.ct.resize(padded * fixed);
                    if (i8_) {
                        s.code_rows.assign(padded, zero_codes_.data());
                        for (std::int64_t r = 0; r < nb; ++r) s.code_rows[r] = codes_.data() + (b0 + r) * d4_;
                        std::copy_n(scale_.data() + b0, nb, s.inv.begin());
                        i8_->block_dot_i8(s.code_rows.data(), s.inv.data(), padded, s.code_panels.data(), s.corr.data(),
                                          s.fixed.inv.data(), fixed, d4_, s.ct.data(), fixed);
                    } else {
                        s.rows.assign(padded, zero_row_.data());
                        for (std::int64_t r = 0; r < nb; ++r) s.rows[r] = xr_.data() + (b0 + r) * d_;
                        std::copy_n(invr_.data() + b0, nb, s.inv.begin());
                        kern_.block_dot_f32(s.rows.data(), s.inv.data(), padded, s.fixed.data.data(), s.fixed.inv.data(),
                                            fixed, d_, s.ct.data(), fixed);
                    }
                    select(top, a, b, s.ct.data(), fixed, s.hits);
                }
            },
            [&](std::int64_t t) { return tasks_[t].work; });
    }

    // int8 join: the best k of each row's candidates (top, k + margin of them, by int8 score) by their fp32
    // scores, which block_dot_f32 would give them (pair_dots: the same FMA chain, then * (inv_a * inv_b)).
    void rescore(const TopLists& top, TopLists& out, const Hooks& hooks) {
        std::vector<std::int32_t> pos_of(n_);
        for (std::int64_t q = 0; q < n_; ++q) pos_of[ids_[q]] = static_cast<std::int32_t>(q);
        constexpr std::int64_t kChunk = 1024;
        struct Scratch {
            std::vector<const float*> qs, cands;
            std::vector<float> dots;
        };
        std::vector<Scratch> scratch(nt_);
        parallel_for((n_ + kChunk - 1) / kChunk, nt_, Hooks{hooks.interrupt, {}}, [&](std::int64_t c, int tid) {
            Scratch& s = scratch[tid];
            for (std::int64_t q = c * kChunk; q < std::min(n_, (c + 1) * kChunk); ++q) {
                const std::int64_t m = top.count[q];
                const std::int32_t* ids = top.idx.data() + q * top.K;
                s.qs.assign(m, xr_.data() + q * d_);
                s.cands.resize(m);
                for (std::int64_t j = 0; j < m; ++j) s.cands[j] = xr_.data() + static_cast<std::int64_t>(pos_of[ids[j]]) * d_;
                s.dots.resize(m);
                kern_.pair_dots(s.qs.data(), s.cands.data(), m, d_, s.dots.data());
                for (std::int64_t j = 0; j < m; ++j) out.offer(q, s.dots[j] * (invr_[q] * invr_[pos_of[ids[j]]]), ids[j]);
            }
        });
    }

    // Exact top-K of `sample` rows (positions) against all rows, sorted like TopLists; sample-major.
    void exact_rows(const std::vector<std::int32_t>& sample, TopLists& out, const Hooks& hooks) {
        const std::int64_t s = static_cast<std::int64_t>(sample.size());
        std::vector<const float*> rows(s);
        std::vector<float> inv(s);
        for (std::int64_t i = 0; i < s; ++i) {
            rows[i] = xr_.data() + static_cast<std::int64_t>(sample[i]) * d_;
            inv[i] = invr_[sample[i]];
        }
        Panels fixed;
        fixed.pack(rows.data(), inv.data(), s, d_);
        const std::int64_t row_chunks = (n_ + kAssignRows - 1) / kAssignRows;
        const std::int64_t col_chunks = (fixed.padded + kCentroidBlock - 1) / kCentroidBlock;
        std::vector<TopLists> local(nt_, TopLists(s, out.K));
        struct Scratch {
            std::vector<const float*> rows;
            std::vector<float> inv, ct;
            std::vector<std::int32_t> hits;
        };
        std::vector<Scratch> scratch(nt_);
        parallel_for(
            row_chunks * col_chunks, nt_, hooks,
            [&](std::int64_t t, int tid) {
                Scratch& sc = scratch[tid];
                TopLists& top = local[tid];
                const std::int64_t r0 = (t / col_chunks) * kAssignRows, nr = std::min(kAssignRows, n_ - r0);
                const std::int64_t c0 = (t % col_chunks) * kCentroidBlock;
                const std::int64_t nc = std::min(kCentroidBlock, fixed.padded - c0);
                stage_rows(r0, nr, sc.rows, sc.inv);
                sc.ct.resize(sc.rows.size() * nc);
                kern_.block_dot_f32(sc.rows.data(), sc.inv.data(), static_cast<std::int64_t>(sc.rows.size()),
                                    fixed.panel(c0, d_), fixed.inv.data() + c0, nc, d_, sc.ct.data(), nc);
                const std::int64_t valid = std::min(nc, s - c0);
                sc.hits.resize(valid + 16);
                for (std::int64_t v = 0; v < nr; ++v) {
                    const float* row = sc.ct.data() + v * nc;
                    const std::int64_t h = kern_.find_ge_vec(row, top.thr.data() + c0, valid, sc.hits.data());
                    for (std::int64_t m = 0; m < h; ++m) {
                        const std::int64_t c = c0 + sc.hits[m];
                        if (p_.exclude_self && sample[c] == r0 + v) continue;
                        top.offer(c, row[sc.hits[m]], ids_[r0 + v]);
                    }
                }
            },
            [&](std::int64_t t) {
                const std::int64_t r0 = (t / col_chunks) * kAssignRows, c0 = (t % col_chunks) * kCentroidBlock;
                const std::int64_t nc = std::min(kCentroidBlock, fixed.padded - c0);
                return std::max<std::int64_t>(1, (std::min(kAssignRows, n_ - r0) * nc * d_) >> kWorkShift);
            });
        for (const TopLists& top : local) {
            for (std::int64_t c = 0; c < s; ++c) {
                for (std::int64_t m = 0; m < top.count[c]; ++m) out.offer(c, top.sim[c * top.K + m], top.idx[c * top.K + m]);
            }
        }
    }

    std::int64_t assign_work() const { return std::max<std::int64_t>(1, (n_ * round_up(nlist_, kPanel) * d_) >> kWorkShift); }
    std::int64_t sample_work(std::int64_t s) const { return std::max<std::int64_t>(1, (n_ * round_up(s, kPanel) * d_) >> kWorkShift); }
    std::int64_t list_size(std::int64_t l) const { return offsets_[l + 1] - offsets_[l]; }
    std::int64_t nlist() const { return nlist_; }
    double scored_per_row() const { return static_cast<double>(scored_) / static_cast<double>(n_); }
    std::int32_t id(std::int64_t pos) const { return ids_[pos]; }

private:
    struct Task {
        std::int64_t a, p0, p1, work;
    };

    std::int64_t chunk_rows(std::int64_t c) const { return chunk_end_[c] - chunk_begin_[c]; }

    // Positions [r0, r0 + nr) of the list-ordered copy as varying rows, padded to kRowsV.
    void stage_rows(std::int64_t r0, std::int64_t nr, std::vector<const float*>& rows, std::vector<float>& inv) const {
        const std::int64_t padded = round_up(nr, kRowsV);
        rows.assign(padded, zero_row_.data());
        inv.assign(padded, 0.0f);
        for (std::int64_t r = 0; r < nr; ++r) rows[r] = xr_.data() + (r0 + r) * d_;
        std::copy_n(invr_.data() + r0, nr, inv.begin());
    }

    // fn(a, scores of centroid a against every centroid, thread) for every centroid a.
    template <typename Fn>
    void centroid_scores(Fn fn, const Hooks& hooks) {
        struct Scratch {
            std::vector<const float*> rows;
            std::vector<float> inv, ct, full;
        };
        std::vector<Scratch> scratch(nt_);
        parallel_for((nlist_ + kAssignRows - 1) / kAssignRows, nt_, hooks, [&](std::int64_t c, int tid) {
            Scratch& s = scratch[tid];
            const std::int64_t r0 = c * kAssignRows, nr = std::min(kAssignRows, nlist_ - r0);
            const std::int64_t padded = round_up(nr, kRowsV);
            s.rows.assign(padded, zero_row_.data());
            s.inv.assign(padded, 0.0f);
            for (std::int64_t r = 0; r < nr; ++r) {
                s.rows[r] = cent_.data() + (r0 + r) * d_;
                s.inv[r] = 1.0f;
            }
            s.full.resize(nr * nlist_);
            for (std::int64_t c0 = 0; c0 < cpanels_.padded; c0 += kCentroidBlock) {
                const std::int64_t nc = std::min(kCentroidBlock, cpanels_.padded - c0);
                const std::int64_t valid = std::min(nc, nlist_ - c0);
                s.ct.resize(padded * nc);
                kern_.block_dot_f32(s.rows.data(), s.inv.data(), padded, cpanels_.panel(c0, d_), cpanels_.inv.data() + c0,
                                    nc, d_, s.ct.data(), nc);
                for (std::int64_t r = 0; r < nr; ++r) std::copy_n(s.ct.data() + r * nc, valid, s.full.data() + r * nlist_ + c0);
            }
            for (std::int64_t r = 0; r < nr; ++r) fn(r0 + r, s.full.data() + r * nlist_, tid);
        });
    }

    void pack_centroids() {
        std::vector<const float*> rows(nlist_);
        for (std::int64_t c = 0; c < nlist_; ++c) rows[c] = cent_.data() + c * d_;
        const std::vector<float> ones(nlist_, 1.0f);
        cpanels_.pack(rows.data(), ones.data(), nlist_, d_);
    }

    // assign[r] = the most similar centroid of row r (ties: the smaller centroid), best[r] its score.
    // row_of(r, buf) gives row r as fp32 (float16 rows converted into buf, d floats); inv[r] its scale (irrelevant to the argmax unless zero).
    template <typename RowOf>
    void nearest_centroids(std::int64_t count, RowOf row_of, const float* inv, std::int32_t* assign, float* best,
                           const Hooks& hooks) {
        struct Scratch {
            std::vector<const float*> rows;
            std::vector<float> inv, ct, conv;
        };
        std::vector<Scratch> scratch(nt_);
        const std::int64_t chunks = (count + kAssignRows - 1) / kAssignRows;
        parallel_for(
            chunks, nt_, hooks,
            [&](std::int64_t c, int tid) {
                Scratch& s = scratch[tid];
                const std::int64_t r0 = c * kAssignRows, nr = std::min(kAssignRows, count - r0);
                const std::int64_t padded = round_up(nr, kRowsV);
                s.rows.assign(padded, zero_row_.data());
                s.inv.assign(padded, 0.0f);
                if constexpr (!std::is_same_v<T, float>) s.conv.resize(nr * d_);
                for (std::int64_t r = 0; r < nr; ++r) {
                    s.rows[r] = row_of(r0 + r, s.conv.empty() ? nullptr : s.conv.data() + r * d_);
                    // The argmax does not depend on the row's scale; a zero scale would zero every score.
                    s.inv[r] = inv[r0 + r] > 0 ? inv[r0 + r] : 1.0f;
                }

                std::fill_n(best + r0, nr, -std::numeric_limits<float>::infinity());
                std::fill_n(assign + r0, nr, 0);
                for (std::int64_t c0 = 0; c0 < cpanels_.padded; c0 += kCentroidBlock) {
                    const std::int64_t nc = std::min(kCentroidBlock, cpanels_.padded - c0);
                    const std::int64_t valid = std::min(nc, nlist_ - c0);
                    s.ct.resize(padded * nc);
                    kern_.block_dot_f32(s.rows.data(), s.inv.data(), padded, cpanels_.panel(c0, d_),
                                        cpanels_.inv.data() + c0, nc, d_, s.ct.data(), nc);
                    for (std::int64_t r = 0; r < nr; ++r) {
                        const float* sc = s.ct.data() + r * nc;
                        for (std::int64_t j = 0; j < valid; ++j) {
                            if (sc[j] > best[r0 + r]) {
                                best[r0 + r] = sc[j];
                                assign[r0 + r] = static_cast<std::int32_t>(c0 + j);
                            }
                        }
                    }
                }
            },
            [&](std::int64_t c) {
                return std::max<std::int64_t>(1, (std::min(kAssignRows, count - c * kAssignRows) * cpanels_.padded * d_) >>
                                                     kWorkShift);
            });
    }

    // Centroid = normalised sum of its rows, summed in row order (deterministic at any thread count).
    // An empty centroid restarts at the sampled row farthest from its centroid not yet used.
    void update_centroids(const std::vector<float>& s, const std::vector<std::int32_t>& assign,
                          const std::vector<float>& best, const Hooks& hooks) {
        const std::int64_t ts = static_cast<std::int64_t>(assign.size());
        std::vector<std::int64_t> start(nlist_ + 1, 0);
        for (std::int32_t a : assign) ++start[a + 1];
        std::partial_sum(start.begin(), start.end(), start.begin());
        std::vector<std::int32_t> members(ts);
        {
            std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
            for (std::int64_t r = 0; r < ts; ++r) members[fill[assign[r]]++] = static_cast<std::int32_t>(r);
        }
        std::vector<char> empty(nlist_, 0);
        std::vector<std::vector<double>> acc(nt_, std::vector<double>(d_));
        parallel_for(nlist_, nt_, hooks, [&](std::int64_t c, int tid) {
            std::vector<double>& a = acc[tid];
            std::fill(a.begin(), a.end(), 0.0);
            for (std::int64_t m = start[c]; m < start[c + 1]; ++m) {
                const float* row = s.data() + static_cast<std::int64_t>(members[m]) * d_;
                for (std::int64_t k = 0; k < d_; ++k) a[k] += row[k];
            }
            double ss = 0;
            for (std::int64_t k = 0; k < d_; ++k) ss += a[k] * a[k];
            if (ss == 0) {
                empty[c] = 1;
                return;
            }
            const double sc = 1.0 / std::sqrt(ss);
            for (std::int64_t k = 0; k < d_; ++k) cent_[c * d_ + k] = static_cast<float>(a[k] * sc);
        });
        if (std::find(empty.begin(), empty.end(), 1) == empty.end()) return;
        std::vector<std::int32_t> far(ts);
        std::iota(far.begin(), far.end(), 0);
        std::stable_sort(far.begin(), far.end(), [&](std::int32_t u, std::int32_t v) { return best[u] < best[v]; });
        std::size_t next = 0;
        for (std::int64_t c = 0; c < nlist_; ++c) {
            if (!empty[c] || next == far.size()) continue;
            std::copy_n(s.data() + static_cast<std::int64_t>(far[next++]) * d_, d_, cent_.data() + c * d_);
        }
    }

    // ct[v * ldc + f] = similarity of position (b0 + v) and (a0 + f); both chunks' rows get the pair.
    void select(TopLists& top, std::int64_t a, std::int64_t b, const float* ct, std::int64_t ldc,
                std::vector<std::int32_t>& hits) {
        const std::int64_t a0 = chunk_begin_[a], na = chunk_rows(a), b0 = chunk_begin_[b], nb = chunk_rows(b);
        hits.resize(na + 16);
        const bool diag = a == b;
        {
            std::lock_guard<std::mutex> lock(locks_[b]);
            for (std::int64_t v = 0; v < nb; ++v) {
                const float* row = ct + v * ldc;
                const std::int64_t start = diag ? v + 1 : 0;
                const std::int64_t gb = b0 + v;
                std::int64_t h = kern_.find_ge(row + start, na - start, top.thr[gb], hits.data());
                for (std::int64_t m = 0; m < h; ++m) top.offer(gb, row[start + hits[m]], ids_[a0 + start + hits[m]]);
                if (!diag) continue;
                h = kern_.find_ge_vec(row + start, top.thr.data() + a0 + start, na - start, hits.data());
                for (std::int64_t m = 0; m < h; ++m) top.offer(a0 + start + hits[m], row[start + hits[m]], ids_[gb]);
                if (!p_.exclude_self) top.offer(gb, row[v], ids_[gb]);
            }
        }
        if (diag) return;
        std::lock_guard<std::mutex> lock(locks_[a]);
        for (std::int64_t v = 0; v < nb; ++v) {
            const float* row = ct + v * ldc;
            const std::int64_t h = kern_.find_ge_vec(row, top.thr.data() + a0, na, hits.data());
            for (std::int64_t m = 0; m < h; ++m) top.offer(a0 + hits[m], row[hits[m]], ids_[b0 + v]);
        }
    }

    const ApproxParams& p_;
    MatrixView<const T> x_;
    std::int64_t n_, d_, d4_, bs_ = 1, nlist_ = 0, scored_ = 0;
    const Kernels& kern_;
    const Kernels* i8_;  // int8 join kernels, or null
    int nt_;
    std::vector<float> inv_, zero_row_;
    std::vector<float> cent_;  // nlist x d unit centroids
    Panels cpanels_;
    std::vector<std::int64_t> offsets_;  // list l holds positions [offsets_[l], offsets_[l + 1])
    std::vector<std::int32_t> order_;    // nlist x nlist: each list's lists by centroid similarity
    std::vector<std::int32_t> ids_;      // original row of each position
    std::vector<float> xr_, invr_;       // rows and inverse norms by position
    std::vector<std::uint32_t> codes_, zero_codes_;  // int8: u8 codes by position (n x d4 words); a zero row
    std::vector<float> scale_;           // int8: code scales by position
    std::vector<std::int32_t> corr_;     // int8: 128 * code sum by position
    std::vector<std::int64_t> chunk_begin_, chunk_end_, first_chunk_;
    std::vector<Task> tasks_;
    std::vector<std::int32_t> partner_;
    std::unique_ptr<std::mutex[]> locks_;
};

// Defaults (measured on clustered d = 384 data, see README section knn): lists of about sqrt(n) rows
// balance the assignment (n * nlist * d) against the join (about n * nprobe * n / nlist * d / 2), and
// four probed lists reached recall@16 >= 0.99 at 20k, 100k and 1M rows (three: 0.977 at 1M).
std::int64_t default_nlist(std::int64_t n) {
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(n)))));
}
constexpr std::int64_t kDefaultNprobe = 4;
// Rows whose exact neighbours choose nprobe for a target recall (a sample apart from the recall estimate's).
constexpr std::int64_t kTuneRows = 256;

template <typename T>
ApproxRunInfo run(const ApproxParams& p, MatrixView<const T> x, MatrixView<std::int32_t> indices,
                  MatrixView<float> sims, const Hooks& hooks) {
    const std::int64_t n = x.rows, d = x.cols;
    detail::check_shapes(n, d, p.k, p.exclude_self, indices.rows, indices.cols, sims.rows, sims.cols);
    if (p.nlist < 0 || p.nprobe < 0 || p.recall_sample < 0 || p.kmeans_iters < 0 || p.train_per_list < 1) {
        throw std::invalid_argument(
            "nlist, nprobe, recall_sample and kmeans_iters must be >= 0 and train_per_list >= 1");
    }
    if (p.precision == Precision::bf16) throw std::invalid_argument("the approximate graph scores in fp32 or int8, not bf16");
    const Kernels& kern = detail::fp32_kernels(p.isa);
    const Kernels* i8 = p.precision == Precision::int8 ? detail::int8_kernels(p.isa, d) : nullptr;
    const std::int64_t k = p.k;
    const std::int64_t nlist = std::min(n, p.nlist > 0 ? p.nlist : default_nlist(n));
    if (!(p.target_recall >= 0.0 && p.target_recall <= 1.0)) {
        throw std::invalid_argument("target_recall must be in [0, 1], got " + std::to_string(p.target_recall));
    }
    const bool tune = p.nprobe == 0 && p.target_recall > 0.0;
    std::int64_t nprobe = std::min(nlist, p.nprobe > 0 ? p.nprobe : kDefaultNprobe);
    const std::int64_t sample = std::min(n, p.recall_sample);
    const std::int64_t tune_rows = tune ? std::min(n, kTuneRows) : 0;

    ApproxJoin<T> join(p, x, kern, i8);
    join.norms(hooks);
    join.train(nlist, hooks);
    // Progress: assignment, then the join, then the recall check, in units of 2^20 multiply-adds. The
    // join's work is known only after the partition: its share of the total is an estimate, onto which
    // its actual work is scaled.
    const std::int64_t assign_work = join.assign_work();
    const std::int64_t sample_work = sample > 0 ? join.sample_work(sample) : 0;
    const std::int64_t tune_work = tune_rows > 0 ? join.sample_work(tune_rows) : 0;
    const std::int64_t guess = std::max<std::int64_t>(1, ((n * (n / nlist + 1) * nprobe * d) >> kWorkShift));
    const std::int64_t total = assign_work + tune_work + guess + sample_work;
    join.partition(phase_hooks(hooks, 0, assign_work, assign_work, total));
    if (i8) join.quantize(hooks);
    join.rank_lists(hooks);
    if (tune_rows > 0) {
        std::vector<std::int32_t> rows = sample_without_replacement(n, tune_rows, p.seed ^ 0x7E57AB1EULL);
        std::sort(rows.begin(), rows.end());
        TopLists exact(tune_rows, k);
        join.exact_rows(rows, exact, phase_hooks(hooks, assign_work, tune_work, tune_work, total));
        nprobe = std::min(nlist, join.choose_nprobe(rows, exact, p.target_recall));
    }
    // int8 keeps k + kInt8Margin candidates (as many as a row can have) for the fp32 re-scoring.
    const std::int64_t kept = i8 ? std::min(k + kInt8Margin, n - (p.exclude_self ? 1 : 0)) : k;
    const std::int64_t join_work = join.plan(nprobe, kept);
    TopLists top(n, k);
    {
        TopLists candidates(i8 ? n : 0, kept);
        join.join(i8 ? candidates : top, phase_hooks(hooks, assign_work + tune_work, guess, join_work, total));
        if (i8) join.rescore(candidates, top, hooks);
    }

    ApproxRunInfo info;
    info.kernel = i8 ? i8->name : kern.name;
    info.nlist = join.nlist();
    info.nprobe = nprobe;
    info.candidates = join.scored_per_row();
    if (sample > 0) {
        std::vector<std::int32_t> rows = sample_without_replacement(n, sample, p.seed ^ 0x5EC0DDA7AULL);
        std::sort(rows.begin(), rows.end());
        TopLists exact(sample, k);
        join.exact_rows(rows, exact, phase_hooks(hooks, assign_work + tune_work + guess, sample_work, sample_work, total));
        std::int64_t hit = 0;
        std::vector<std::int32_t> want, got;
        for (std::int64_t i = 0; i < sample; ++i) {
            want.assign(exact.idx.begin() + i * k, exact.idx.begin() + (i + 1) * k);
            got.assign(top.idx.begin() + static_cast<std::int64_t>(rows[i]) * k,
                       top.idx.begin() + (static_cast<std::int64_t>(rows[i]) + 1) * k);
            std::sort(want.begin(), want.end());
            std::sort(got.begin(), got.end());
            std::vector<std::int32_t> both;
            std::set_intersection(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(both));
            hit += static_cast<std::int64_t>(both.size());
        }
        info.recall = static_cast<double>(hit) / static_cast<double>(sample * k);
        info.recall_rows = sample;
    }
    for (std::int64_t q = 0; q < n; ++q) {
        const std::int64_t r = join.id(q);
        std::copy_n(top.idx.data() + q * k, k, &indices(r, 0));
        std::copy_n(top.sim.data() + q * k, k, &sims(r, 0));
    }
    if (hooks.progress) hooks.progress(total, total);
    return info;
}

}  // namespace

ApproxRunInfo knn_graph_approx(const ApproxParams& params, MatrixView<const float> x, MatrixView<std::int32_t> indices,
                               MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x, indices, similarities, hooks);
}

ApproxRunInfo knn_graph_approx(const ApproxParams& params, MatrixView<const std::uint16_t> x_fp16,
                               MatrixView<std::int32_t> indices, MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x_fp16, indices, similarities, hooks);
}

}  // namespace rbic::knn
