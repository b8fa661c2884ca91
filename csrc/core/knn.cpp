// Exact cosine kNN self-join: blocked dot products, each block pair computed once and fed to the
// top-k lists of both of its row blocks.
#include "rbic/knn.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "knn_kernels.hpp"
#include "rbic/build_info.hpp"

namespace rbic::knn {
namespace {

using detail::Kernels;
using detail::kPanel;
using detail::kRowsV;

// Block pairs per parallel task: bounds the time between two Ctrl-C / progress polls.
constexpr std::int64_t kPairsPerTask = 16;

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

// Picks the kernels: the best the CPU has, capped by params.isa.
const Kernels& pick_kernels(const std::string& isa, bool want_bf16, bool& use_bf16) {
    int cap;
    if (isa == "auto" || isa == "avx512_bf16") {
        cap = 2;
    } else if (isa == "avx512") {
        cap = 1;
    } else if (isa == "portable") {
        cap = 0;
    } else {
        throw std::invalid_argument("isa must be 'auto', 'avx512_bf16', 'avx512' or 'portable', got '" + isa + "'");
    }
    int have = 0;
    if (cpu_has_avx512() && detail::avx512_kernels()) have = 1;
    if (have == 1 && cpu_has_avx512_bf16() && detail::avx512_bf16_kernels()) have = 2;
    const int level = std::min(cap, have);
    use_bf16 = want_bf16 && level == 2;
    if (use_bf16) return *detail::avx512_bf16_kernels();
    if (level >= 1) return *detail::avx512_kernels();
    return detail::portable_kernels();
}

std::string list_rows(const std::vector<std::int64_t>& rows) {
    std::string s;
    const std::size_t shown = std::min<std::size_t>(rows.size(), 10);
    for (std::size_t i = 0; i < shown; ++i) s += (i ? ", " : "") + std::to_string(rows[i]);
    if (rows.size() > shown) s += ", ... (" + std::to_string(rows.size() - shown) + " more)";
    return s;
}

// Per-row top-K lists, sorted by (similarity desc, index asc). thr[row] is the similarity a
// candidate must reach to enter (-inf until the list is full). Callers hold the row block's lock.
struct TopK {
    std::int64_t K;
    std::vector<float> sim;
    std::vector<std::int32_t> idx;
    std::vector<std::int32_t> count;
    std::vector<float> thr;

    TopK(std::int64_t n, std::int64_t k)
        : K(k), sim(n * k), idx(n * k), count(n, 0), thr(n, -std::numeric_limits<float>::infinity()) {}

    void offer(std::int64_t row, float s, std::int32_t cand) {
        float* S = sim.data() + row * K;
        std::int32_t* I = idx.data() + row * K;
        std::int64_t pos = count[row];
        if (pos == K) {
            if (!(s > S[K - 1] || (s == S[K - 1] && cand < I[K - 1]))) return;
            pos = K - 1;
        } else {
            ++count[row];
        }
        while (pos > 0 && (s > S[pos - 1] || (s == S[pos - 1] && cand < I[pos - 1]))) {
            S[pos] = S[pos - 1];
            I[pos] = I[pos - 1];
            --pos;
        }
        S[pos] = s;
        I[pos] = cand;
        if (count[row] == K) thr[row] = S[K - 1];
    }
};

// The fixed side of a task (block i, packed into transposed panels once per task) and the varying
// side (block j, read in place or converted per block pair), each padded to the tile multiple
// with zero rows and zero inverse norms.
struct Fixed {
    std::vector<float> panels_f32;
    std::vector<std::uint32_t> panels_bf16;
    std::vector<float> inv;
    std::int64_t valid = 0, padded = 0;
};

struct Varying {
    std::vector<float> f32;           // converted fp32 rows (float16 input only)
    std::vector<std::uint32_t> bf16;  // bf16 rows (bf16 precision only)
    std::vector<const float*> rows_f32;
    std::vector<const std::uint32_t*> rows_bf16;
    std::vector<float> inv;
    std::int64_t valid = 0, padded = 0;
};

struct Scratch {
    Fixed a;
    Varying b;
    std::vector<float> ct;
    std::vector<std::int32_t> hits;
    std::vector<float> row_tmp;          // one fp32 row
    std::vector<std::uint32_t> bf16_tmp;  // one bf16 row
};

template <typename T>
class Engine {
public:
    Engine(const KnnParams& p, MatrixView<const T> x, const Kernels& kern, bool bf16)
        : p_(p), x_(x), n_(x.rows), d_(x.cols), kern_(kern), bf16_(bf16) {
        d2_ = (d_ + 1) / 2;
        zero_f32_.assign(d_, 0.0f);
        zero_bf16_.assign(d2_, 0);
        std::int64_t bs = p.block_rows > 0 ? p.block_rows : std::clamp<std::int64_t>(131072 / d_, 48, 384);
        bs_ = std::max<std::int64_t>(1, std::min(bs, n_));
        nblocks_ = (n_ + bs_ - 1) / bs_;
    }

    std::int64_t block_rows() const { return bs_; }

    void compute_norms(const Hooks& hooks) {
        inv_.assign(n_, 1.0f);
        constexpr std::int64_t kChunk = 4096;
        const std::int64_t chunks = (n_ + kChunk - 1) / kChunk;
        std::vector<std::vector<std::int64_t>> bad(chunks), zero(chunks);
        const int nt = resolve_threads(p_.threads);
        std::vector<std::vector<float>> tmp(nt);
        Hooks interrupt_only{hooks.interrupt, {}};
        parallel_for(chunks, nt, interrupt_only, [&](std::int64_t c, int tid) {
            for (std::int64_t r = c * kChunk; r < std::min(n_, (c + 1) * kChunk); ++r) {
                const float* row = row_f32(r, tmp[tid]);
                double ss = 0.0;
                for (std::int64_t k = 0; k < d_; ++k) ss += static_cast<double>(row[k]) * row[k];
                // Also rejects finite rows whose fp32 dot products would overflow (|x|^2 > FLT_MAX).
                if (!(ss <= std::numeric_limits<float>::max())) {
                    bad[c].push_back(r);
                } else if (p_.normalize) {
                    if (ss == 0.0) zero[c].push_back(r);
                    else inv_[r] = static_cast<float>(1.0 / std::sqrt(ss));
                }
            }
        });
        std::vector<std::int64_t> all_bad, all_zero;
        for (std::int64_t c = 0; c < chunks; ++c) {
            all_bad.insert(all_bad.end(), bad[c].begin(), bad[c].end());
            all_zero.insert(all_zero.end(), zero[c].begin(), zero[c].end());
        }
        if (!all_bad.empty()) {
            throw std::invalid_argument(
                "embeddings has " + std::to_string(all_bad.size()) +
                " row(s) containing NaN or Inf (or with a squared norm above the float32 range): rows " +
                list_rows(all_bad) +
                ". Drop or re-embed these rows before building the kNN graph.");
        }
        if (!all_zero.empty()) {
            throw std::invalid_argument(
                "embeddings has " + std::to_string(all_zero.size()) + " all-zero row(s): rows " + list_rows(all_zero) +
                ". Cosine similarity is undefined for a zero vector: drop these rows, or pass normalize=False to "
                "rank by raw inner product.");
        }
    }

    // The main pass: every block pair (i <= j) once; returns per-row top-K lists.
    void self_join(TopK& top, const Hooks& hooks) {
        // Task t covers pairs (i, j0..j1) of one row block i; tasks are numbered by i, so the first
        // (longest) rows of the triangle start first. Indexed arithmetically: no per-task storage.
        std::vector<std::int64_t> first(nblocks_ + 1, 0);
        for (std::int64_t i = 0; i < nblocks_; ++i) {
            first[i + 1] = first[i] + (nblocks_ - i + kPairsPerTask - 1) / kPairsPerTask;
        }
        struct Task {
            std::int64_t i, j0, j1;
        };
        auto task_of = [&](std::int64_t t) {
            const std::int64_t i = std::upper_bound(first.begin(), first.end(), t) - first.begin() - 1;
            const std::int64_t j0 = i + (t - first[i]) * kPairsPerTask;
            return Task{i, j0, std::min(nblocks_, j0 + kPairsPerTask)};
        };
        locks_.reset(new std::mutex[nblocks_]);
        const int nt = resolve_threads(p_.threads);
        std::vector<Scratch> scratch(nt);
        parallel_for(
            first[nblocks_], nt, hooks,
            [&](std::int64_t t, int tid) {
                const Task task = task_of(t);
                Scratch& s = scratch[tid];
                pack_fixed(task.i, s);
                for (std::int64_t j = task.j0; j < task.j1; ++j) {
                    stage_varying(j, s);
                    product(s.a, s.b, s.ct);
                    select(top, task.i, j, s.a.valid, s.b.valid, s.ct.data(), s.a.padded, s.hits);
                }
            },
            [&](std::int64_t t) {
                const Task task = task_of(t);
                return task.j1 - task.j0;
            });
    }

    // bf16 shortlist -> exact fp32 similarities (the fp32 path's values), best k of the K kept.
    void rescore(const TopK& top, MatrixView<std::int32_t> indices, MatrixView<float> sims, const Hooks& hooks) {
        const std::int64_t K = top.K, k = p_.k;
        const int nt = resolve_threads(p_.threads);
        struct Buffers {
            std::vector<float> q, cand_rows, dots;
            std::vector<const float*> cands;
            std::vector<std::pair<float, std::int32_t>> order;
        };
        std::vector<Buffers> buf(nt);
        parallel_for(nblocks_, nt, hooks, [&](std::int64_t blk, int tid) {
            Buffers& b = buf[tid];
            b.cands.resize(K);
            b.dots.resize(K);
            if constexpr (!std::is_same_v<T, float>) b.cand_rows.resize(K * d_);
            for (std::int64_t q = blk * bs_; q < std::min(n_, (blk + 1) * bs_); ++q) {
                const std::int32_t* ci = top.idx.data() + q * K;
                const float* xq = row_f32(q, b.q);
                for (std::int64_t m = 0; m < K; ++m) {
                    if constexpr (std::is_same_v<T, float>) {
                        b.cands[m] = x_.row(ci[m]);
                    } else {
                        kern_.fp16_to_f32(x_.row(ci[m]), b.cand_rows.data() + m * d_, d_);
                        b.cands[m] = b.cand_rows.data() + m * d_;
                    }
                }
                kern_.pair_dots(xq, b.cands.data(), K, d_, b.dots.data());
                b.order.clear();
                for (std::int64_t m = 0; m < K; ++m) b.order.emplace_back(b.dots[m] * (inv_[q] * inv_[ci[m]]), ci[m]);
                std::partial_sort(b.order.begin(), b.order.begin() + k, b.order.end(), [](const auto& u, const auto& v) {
                    return u.first > v.first || (u.first == v.first && u.second < v.second);
                });
                for (std::int64_t m = 0; m < k; ++m) {
                    indices(q, m) = b.order[m].second;
                    sims(q, m) = b.order[m].first;
                }
            }
        });
    }

    std::int64_t nblocks() const { return nblocks_; }

private:
    // Row r as fp32: the input itself for float32, converted into `tmp` for float16.
    const float* row_f32(std::int64_t r, std::vector<float>& tmp) const {
        if constexpr (std::is_same_v<T, float>) {
            return x_.row(r);
        } else {
            tmp.resize(d_);
            kern_.fp16_to_f32(x_.row(r), tmp.data(), d_);
            return tmp.data();
        }
    }

    // Block `blk` as transposed panels of kPanel rows: panel p holds (k, c) = row p*kPanel + c, column k.
    void pack_fixed(std::int64_t blk, Scratch& s) {
        Fixed& f = s.a;
        const std::int64_t r0 = blk * bs_;
        f.valid = std::min(bs_, n_ - r0);
        f.padded = round_up(f.valid, kPanel);
        f.inv.assign(f.padded, 0.0f);
        std::copy_n(inv_.begin() + r0, f.valid, f.inv.begin());
        if (bf16_) {
            f.panels_bf16.assign(f.padded * d2_, 0);
            for (std::int64_t r = 0; r < f.valid; ++r) {
                const std::uint32_t* src = to_bf16(r0 + r, s);
                std::uint32_t* dst = f.panels_bf16.data() + (r / kPanel) * d2_ * kPanel + r % kPanel;
                for (std::int64_t k = 0; k < d2_; ++k) dst[k * kPanel] = src[k];
            }
        } else {
            f.panels_f32.assign(f.padded * d_, 0.0f);
            for (std::int64_t r = 0; r < f.valid; ++r) {
                const float* src = row_f32(r0 + r, s.row_tmp);
                float* dst = f.panels_f32.data() + (r / kPanel) * d_ * kPanel + r % kPanel;
                for (std::int64_t k = 0; k < d_; ++k) dst[k * kPanel] = src[k];
            }
        }
    }

    // Row r as bf16 pairs (zero padded to d2 words), in s.bf16_tmp.
    const std::uint32_t* to_bf16(std::int64_t r, Scratch& s) {
        s.bf16_tmp.assign(d2_, 0);
        kern_.f32_to_bf16(row_f32(r, s.row_tmp), reinterpret_cast<std::uint16_t*>(s.bf16_tmp.data()), d_);
        return s.bf16_tmp.data();
    }

    // Block `blk` as row pointers: the input rows themselves for float32, converted rows otherwise.
    void stage_varying(std::int64_t blk, Scratch& s) {
        Varying& v = s.b;
        const std::int64_t r0 = blk * bs_;
        v.valid = std::min(bs_, n_ - r0);
        v.padded = round_up(v.valid, kRowsV);
        v.inv.assign(v.padded, 0.0f);
        std::copy_n(inv_.begin() + r0, v.valid, v.inv.begin());
        v.rows_f32.clear();
        v.rows_bf16.clear();
        if (bf16_) {
            v.bf16.resize(v.valid * d2_);
            for (std::int64_t r = 0; r < v.valid; ++r) {
                std::copy_n(to_bf16(r0 + r, s), d2_, v.bf16.data() + r * d2_);
                v.rows_bf16.push_back(v.bf16.data() + r * d2_);
            }
            v.rows_bf16.resize(v.padded, zero_bf16_.data());
        } else {
            if constexpr (std::is_same_v<T, float>) {
                for (std::int64_t r = 0; r < v.valid; ++r) v.rows_f32.push_back(x_.row(r0 + r));
            } else {
                v.f32.resize(v.valid * d_);
                for (std::int64_t r = 0; r < v.valid; ++r) {
                    kern_.fp16_to_f32(x_.row(r0 + r), v.f32.data() + r * d_, d_);
                    v.rows_f32.push_back(v.f32.data() + r * d_);
                }
            }
            v.rows_f32.resize(v.padded, zero_f32_.data());
        }
    }

    void product(const Fixed& a, const Varying& b, std::vector<float>& ct) {
        ct.resize(b.padded * a.padded);
        if (bf16_) {
            kern_.block_dot_bf16(b.rows_bf16.data(), b.inv.data(), b.padded, a.panels_bf16.data(), a.inv.data(),
                                 a.padded, d2_, ct.data(), a.padded);
        } else {
            kern_.block_dot_f32(b.rows_f32.data(), b.inv.data(), b.padded, a.panels_f32.data(), a.inv.data(),
                                a.padded, d_, ct.data(), a.padded);
        }
    }

    // ct[b * ldc + a] is the similarity of row (bi*bs + a) and row (bj*bs + b).
    void select(TopK& top, std::int64_t bi, std::int64_t bj, std::int64_t na, std::int64_t nb, const float* ct,
                std::int64_t ldc, std::vector<std::int32_t>& hits) {
        const std::int64_t i0 = bi * bs_, j0 = bj * bs_;
        hits.resize(na + 16);
        const bool diag = bi == bj;
        {
            // Rows of block j (and, on the diagonal, of block i, the same block).
            std::lock_guard<std::mutex> lock(locks_[bj]);
            for (std::int64_t b = 0; b < nb; ++b) {
                const float* row = ct + b * ldc;
                const std::int64_t start = diag ? b + 1 : 0;
                const std::int32_t gb = static_cast<std::int32_t>(j0 + b);
                std::int64_t h = kern_.find_ge(row + start, na - start, top.thr[gb], hits.data());
                for (std::int64_t m = 0; m < h; ++m) {
                    const std::int64_t a = start + hits[m];
                    top.offer(gb, row[a], static_cast<std::int32_t>(i0 + a));
                }
                if (!diag) continue;
                h = kern_.find_ge_vec(row + start, top.thr.data() + i0 + start, na - start, hits.data());
                for (std::int64_t m = 0; m < h; ++m) {
                    const std::int64_t a = start + hits[m];
                    top.offer(i0 + a, row[a], gb);
                }
                if (!p_.exclude_self) top.offer(gb, row[b], gb);
            }
        }
        if (diag) return;
        // Rows of block i: column direction of the same products.
        std::lock_guard<std::mutex> lock(locks_[bi]);
        for (std::int64_t b = 0; b < nb; ++b) {
            const float* row = ct + b * ldc;
            const std::int64_t h = kern_.find_ge_vec(row, top.thr.data() + i0, na, hits.data());
            for (std::int64_t m = 0; m < h; ++m) {
                const std::int64_t a = hits[m];
                top.offer(i0 + a, row[a], static_cast<std::int32_t>(j0 + b));
            }
        }
    }

    const KnnParams& p_;
    MatrixView<const T> x_;
    std::int64_t n_, d_, d2_ = 0, bs_ = 1, nblocks_ = 0;
    const Kernels& kern_;
    bool bf16_;
    std::vector<float> inv_;
    std::vector<float> zero_f32_;
    std::vector<std::uint32_t> zero_bf16_;
    std::unique_ptr<std::mutex[]> locks_;
};

template <typename T>
KnnRunInfo run(const KnnParams& p, MatrixView<const T> x, MatrixView<std::int32_t> indices,
               MatrixView<float> sims, const Hooks& hooks) {
    const std::int64_t n = x.rows, d = x.cols;
    if (d <= 0) throw std::invalid_argument("embeddings must have at least one column, got d=" + std::to_string(d));
    if (n > std::numeric_limits<std::int32_t>::max()) {
        throw std::invalid_argument("at most 2^31-1 rows are supported (indices are int32), got n=" + std::to_string(n));
    }
    const std::int64_t max_k = n - (p.exclude_self ? 1 : 0);
    if (p.k <= 0 || p.k > max_k) {
        throw std::invalid_argument("k must be in [1, " + std::to_string(max_k) + "] for n=" + std::to_string(n) +
                                    (p.exclude_self ? " with exclude_self" : "") + ", got k=" + std::to_string(p.k));
    }
    if (indices.rows != n || indices.cols != p.k || sims.rows != n || sims.cols != p.k) {
        throw std::invalid_argument("indices and similarities must be n x k");
    }
    bool use_bf16 = false;
    const Kernels& kern = pick_kernels(p.isa, p.precision == Precision::bf16, use_bf16);
    // bf16 rounding moves unit-vector similarities by ~1e-4 typically (2^-7 at worst); k + max(k, 16)
    // candidates leave room for that before the exact re-scoring.
    const std::int64_t K = use_bf16 ? std::min<std::int64_t>(max_k, p.k + std::max(p.k, 16)) : p.k;

    Engine<T> engine(p, x, kern, use_bf16);
    engine.compute_norms(hooks);
    TopK top(n, K);
    if (!use_bf16) {
        engine.self_join(top, hooks);
        for (std::int64_t q = 0; q < n; ++q) {
            std::copy_n(top.idx.data() + q * K, K, &indices(q, 0));
            std::copy_n(top.sim.data() + q * K, K, &sims(q, 0));
        }
    } else {
        // Progress runs over both phases: block pairs, then one unit per re-scored row block.
        const std::int64_t pairs = engine.nblocks() * (engine.nblocks() + 1) / 2;
        const std::int64_t total = pairs + engine.nblocks();
        Hooks join_hooks{hooks.interrupt, {}}, rescore_hooks{hooks.interrupt, {}};
        if (hooks.progress) {
            join_hooks.progress = [&](std::int64_t done, std::int64_t) { hooks.progress(done, total); };
            rescore_hooks.progress = [&](std::int64_t done, std::int64_t) { hooks.progress(pairs + done, total); };
        }
        engine.self_join(top, join_hooks);
        engine.rescore(top, indices, sims, rescore_hooks);
    }
    return KnnRunInfo{kern.name, static_cast<int>(K), engine.block_rows()};
}

}  // namespace

KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const float> x, MatrixView<std::int32_t> indices,
                     MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x, indices, similarities, hooks);
}

KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const std::uint16_t> x_fp16,
                     MatrixView<std::int32_t> indices, MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x_fp16, indices, similarities, hooks);
}

}  // namespace rbic::knn
