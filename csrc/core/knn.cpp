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
#include "knn_rows.hpp"
#include "rbic/build_info.hpp"

namespace rbic::knn {
namespace {

using detail::Kernels;
using detail::kPanel;
using detail::kRowsV;

// Block pairs per parallel task: bounds the time between two Ctrl-C / progress polls.
constexpr std::int64_t kPairsPerTask = 16;
// One pair re-scored by pair_dots (one FMA chain per pair, rows gathered) costs about as much as this many pairs
// of the fp32 block product (measured ~300 vs ~13 cycles at d = 384 with the scalar pair_dots; both scale with
// d). The AVX-512 pair_dots now runs sixteen pairs per pass, about 1.8x faster in the approximate join's profile;
// 13 instead of 24 was no faster on crowded data (20 000 x 384 with 5 000 identical rows and a 3 000-row blob,
// 1 thread, alternating: 3.32-3.38 vs 3.18-3.31 CPU-s), so 24 stays (either choice gives the same result).
constexpr std::int64_t kRescoreCost = 24;
// The int8 probe pass offers each row at least this many candidate rows (run()).
constexpr std::int64_t kProbeRows = 4096;

std::int64_t round_up(std::int64_t x, std::int64_t m) { return (x + m - 1) / m * m; }

// The arithmetic the self-join runs (a reduced precision falls back to Mode::f32 on CPUs without it).
enum class Mode { f32, bf16, i8 };

// int8 codes: the int32 dot of d codes (|u8 * s8| <= 255 * 127) must not overflow.
constexpr std::int64_t kMaxInt8Dim = 65536;

// Picks the kernels: the best the CPU has for the requested precision, capped by params.isa.
const Kernels& pick_kernels(const std::string& isa, Precision want, std::int64_t d, Mode& mode) {
    if (isa != "auto" && isa != "avx512_bf16" && isa != "avx512_vnni" && isa != "avx512" && isa != "portable") {
        throw std::invalid_argument("isa must be 'auto', 'avx512_bf16', 'avx512_vnni', 'avx512' or 'portable', got '" +
                                    isa + "'");
    }
    const bool avx512 = isa != "portable" && cpu_has_avx512() && detail::avx512_kernels();
    const bool bf16 = avx512 && (isa == "auto" || isa == "avx512_bf16") && cpu_has_avx512_bf16() &&
                      detail::avx512_bf16_kernels();
    const bool vnni = avx512 && (isa == "auto" || isa == "avx512_vnni") && cpu_has_avx512_vnni() &&
                      detail::avx512_vnni_kernels();
    mode = Mode::f32;
    if (want == Precision::bf16 && bf16) {
        mode = Mode::bf16;
        return *detail::avx512_bf16_kernels();
    }
    if (want == Precision::int8 && vnni && d <= kMaxInt8Dim) {
        mode = Mode::i8;
        return *detail::avx512_vnni_kernels();
    }
    if (avx512) return *detail::avx512_kernels();
    return detail::portable_kernels();
}

// Certified bound of |fp32 score - int8 score| on the int8 path, and the int8 gates from it.
// With a = x_a * inv_a (what the fp32 path scores, up to its rounding) and a^ its dequantised codes,
// the polarisation identity 2 a.b = |a|^2 + |b|^2 - |a - b|^2 (the same for a^, b^) gives
//   a.b - a^.b^ = h_a + h_b - (|a - b|^2 - |a^ - b^|^2) / 2,  h = (|a|^2 - |a^|^2) / 2,
// and | |a - b| - |a^ - b^| | <= E_a + E_b (E = |a - a^|), so
//   |a.b - a^.b^| <= |h_a| + |h_b| + (E_a + E_b) (|a - b| + (E_a + E_b) / 2).
// |a - b| is small exactly where it matters (candidates near a row's k-th best), which makes this
// much tighter than Cauchy-Schwarz (E_a |b| + |a^| E_b) for near neighbours.
struct Int8Bound {
    std::vector<double> err, half_gap, norm;  // per row: E, |h|, N = max(|a|, |a^|), all rounded up
    double emax = 0, hmax = 0, nmax = 0;
    double rho = 0;  // rounding of both scores, per unit N_a * N_b

    // The lowest int8 score of a candidate of row a whose fp32 score can reach lb, for any candidate (the
    // maxima over all rows): once a row's list holds k exact (fp32) scores, lb is its k-th best and this is
    // the row's gate, one bound wide.
    float reach_gate(std::int64_t a, double lb) const { return reach(a, emax, hmax, nmax, lb); }
    // The same with candidate b's own terms: whether its int8 score s lets it reach lb (always for lb = -inf).
    bool may_reach(std::int64_t a, std::int64_t b, float s, double lb) const {
        return s >= reach(a, err[b], half_gap[b], norm[b], lb);
    }

private:
    // The bound for row a and a row b with terms (eb, hb, nb) when |a - b| is at most the distance that a
    // score >= lb allows (|a - b|^2 = |a|^2 + |b|^2 - 2 a.b), subtracted from lb and rounded down.
    float reach(std::int64_t a, double eb, double hb, double nb, double lb) const {
        const double nd = norm[a] * norm[a] + nb * nb - 2 * (lb - rho * norm[a] * nb);
        const double dist = std::min(norm[a] + nb, std::sqrt(std::max(0.0, nd)));
        const double e = err[a] + eb;
        return round_down(lb - (half_gap[a] + hb + e * (dist + e / 2) + rho * norm[a] * nb), lb);
    }
    // g rounded down to a float, with room for the float rounding of a score near `ref`.
    static float round_down(double g, double ref) {
        g -= 1e-6 * (std::abs(ref) + std::abs(g));
        return std::nextafter(static_cast<float>(g), -std::numeric_limits<float>::infinity());
    }
};

// Per-row top-K lists, sorted by (similarity desc, index asc). thr[row] is the score a candidate must
// reach in the block product to be offered (-inf until the list is full). Callers hold the row block's lock.
// With a bound (the int8 path), the lists hold exact fp32 scores (re-scored as the join goes) and thr[row]
// is the lowest int8 score that can still reach the row's K-th best (Int8Bound::reach_gate).
struct TopK {
    std::int64_t K;
    std::vector<float> sim;
    std::vector<std::int32_t> idx;
    std::vector<std::int32_t> count;
    std::vector<float> thr;
    const Int8Bound* bound = nullptr;  // null: thr is the K-th best itself
    std::vector<float> regate_at;      // K-th best above which thr is worth recomputing
    std::vector<float> kth_floor;      // int8: a lower bound of the final K-th best (-inf: none yet)

    TopK(std::int64_t n, std::int64_t k)
        : K(k), sim(n * k), idx(n * k), count(n, 0), thr(n, -std::numeric_limits<float>::infinity()) {}

    // int8 gates by `b`, starting from floors[r]: the lowest exact score of K candidates of row r (any K
    // rows are at most the final K-th best), or -inf.
    void enable_gates(const Int8Bound& b, std::vector<float> floors) {
        bound = &b;
        kth_floor = std::move(floors);
        regate_at.assign(count.size(), -std::numeric_limits<float>::infinity());
        for (std::size_t r = 0; r < count.size(); ++r) {
            if (kth_floor[r] > -std::numeric_limits<float>::infinity()) {
                thr[r] = b.reach_gate(static_cast<std::int64_t>(r), kth_floor[r]);
            }
        }
    }

    void offer(std::int64_t row, float s, std::int32_t cand) {
        float* S = sim.data() + row * K;
        std::int32_t* I = idx.data() + row * K;
        if (!detail::insert_sorted(S, I, count[row], K, s, cand)) return;
        if (count[row] == K) {
            if (!bound) {
                thr[row] = S[K - 1];
                return;
            }
            kth_floor[row] = std::max(kth_floor[row], S[K - 1]);
            if (S[K - 1] >= regate_at[row]) {
                // The gate only grows with the K-th best, so a stale one is a lower (safe) gate;
                // recomputing it (a few square roots) only after the K-th best moved by a quarter of
                // the window keeps the gates nearly as tight at a fraction of the cost.
                thr[row] = std::max(thr[row], bound->reach_gate(row, S[K - 1]));
                regate_at[row] = S[K - 1] + 0.25f * (S[K - 1] - thr[row]);
            }
        }
    }
};

// The fixed side of a task (block i, packed into transposed panels once per task) and the varying
// side (block j, read in place or converted per block pair), each padded to the tile multiple
// with zero rows and zero inverse norms.
// inv holds inverse norms (fp32, bf16) or code scales (int8); words are bf16 pairs or int8 quads.
struct Fixed {
    std::vector<float> panels_f32;
    std::vector<std::uint32_t> panels_w;
    std::vector<std::int32_t> corr;  // int8: 128 * code sum of each row
    std::vector<float> inv;
    std::int64_t valid = 0, padded = 0;
};

struct Varying {
    std::vector<float> f32;            // converted fp32 rows (float16 input only)
    std::vector<std::uint32_t> words;  // bf16 rows (bf16 precision only)
    std::vector<const float*> rows_f32;
    std::vector<const std::uint32_t*> rows_w;
    std::vector<float> inv;
    std::int64_t valid = 0, padded = 0;
};

struct Scratch {
    Fixed a;
    Varying b;
    Fixed a32;                 // int8: block i as fp32 panels, for block pairs re-scored by the fp32 kernel
    Varying b32;
    std::int64_t a32_block = -1;
    std::vector<float> ct;
    std::vector<std::int32_t> hits;
    std::vector<float> row_tmp;          // one fp32 row
    std::vector<std::uint32_t> bf16_tmp;  // one bf16 row
    // int8 re-scoring in the join: gates of a row pair, the block pair's pairs to re-score (row in block j,
    // row in block i), their rows (both blocks converted to fp32 for float16 input), their unscaled fp32 dots,
    // and the candidates re-scored so far.
    std::vector<float> gates, rows_i, rows_j, dots;
    std::vector<std::pair<std::int32_t, std::int32_t>> pairs;
    std::vector<const float*> qs, cands;
    std::int64_t rescored = 0;
};

template <typename T>
class Engine {
public:
    Engine(const KnnParams& p, MatrixView<const T> x, const Kernels& kern, Mode mode)
        : p_(p), x_(x), n_(x.rows), d_(x.cols), kern_(kern), mode_(mode) {
        d2_ = (d_ + 1) / 2;
        d4_ = (d_ + 3) / 4;
        zero_f32_.assign(d_, 0.0f);
        zero_w_.assign(d2_, 0);
        std::int64_t bs = p.block_rows > 0 ? p.block_rows : std::clamp<std::int64_t>(131072 / d_, 48, 384);
        bs_ = std::max<std::int64_t>(1, std::min(bs, n_));
        nblocks_ = (n_ + bs_ - 1) / bs_;
    }

    std::int64_t block_rows() const { return bs_; }

    void compute_norms(const Hooks& hooks) {
        inv_ = detail::checked_inverse_norms(x_, p_.normalize, p_.threads, hooks, kern_);
    }

    // int8 codes of every row and the error bound (Int8Bound). Row r is a = x_r * inv_r; its codes
    // q (|q| <= 127) with scale s = max|a| / 127 give a^ = s * q, stored as u8 q + 128.
    Int8Bound quantize(const Hooks& hooks) {
        codes_.assign(n_ * d4_, 0x80808080u);  // zero-padded codes (u8 128 = code 0)
        scale_.assign(n_, 0.0f);
        corr_.assign(n_, 0);
        Int8Bound bd;
        bd.err.resize(n_);
        bd.half_gap.resize(n_);
        bd.norm.resize(n_);
        const int nt = resolve_threads(p_.threads);
        std::vector<std::vector<float>> tmp(nt);
        std::vector<std::vector<double>> a(nt);
        Hooks interrupt_only{hooks.interrupt, {}};
        constexpr double up = 1 + 1e-12;  // rounds the double sums up
        parallel_for(n_, nt, interrupt_only, [&](std::int64_t r, int tid) {
            std::vector<double>& ar = a[tid];
            ar.resize(d_);
            auto* q = reinterpret_cast<std::uint8_t*>(codes_.data() + r * d4_);
            std::int64_t sum = 0;
            const float sc = detail::quantize_row(row_f32(r, tmp[tid]), inv_[r], d_, ar.data(), q, sum);
            double na = 0.0, e = 0.0, nq = 0.0;
            for (std::int64_t k = 0; k < d_; ++k) {
                const double deq = static_cast<double>(sc) * (static_cast<int>(q[k]) - 128);
                na += ar[k] * ar[k];
                e += (ar[k] - deq) * (ar[k] - deq);
                nq += deq * deq;
            }
            scale_[r] = sc;
            corr_[r] = static_cast<std::int32_t>(128 * sum);
            bd.err[r] = std::sqrt(e) * up;
            bd.half_gap[r] = (std::abs(na - nq) / 2 + 1e-15 * (na + nq)) * up;
            bd.norm[r] = std::sqrt(std::max(na, nq)) * up;
        });
        bd.emax = *std::max_element(bd.err.begin(), bd.err.end());
        bd.hmax = *std::max_element(bd.half_gap.begin(), bd.half_gap.end());
        bd.nmax = *std::max_element(bd.norm.begin(), bd.norm.end());
        // The fp32 score's FMA chain and scaling err by <= (d + 2) u |a||b| and the int8 score's
        // int -> float conversion and two products by <= 3 u |a^||b^| (u = 2^-24); doubled for safety.
        bd.rho = 2.0 * (d_ + 8) * std::ldexp(1.0, -24);
        return bd;
    }

    // The main pass: every block pair (i <= j) once, or only those with i < probe_blocks; fills the
    // per-row top-K lists. Returns the candidates re-scored in fp32, summed over rows (int8 gates only).
    std::int64_t self_join(TopK& top, const Hooks& hooks, std::int64_t probe_blocks = -1) {
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
        const std::int64_t tasks = first[probe_blocks < 0 ? nblocks_ : std::min(nblocks_, probe_blocks)];
        parallel_for(
            tasks, nt, hooks,
            [&](std::int64_t t, int tid) {
                const Task task = task_of(t);
                Scratch& s = scratch[tid];
                pack_fixed(task.i, mode_, s.a, s);
                for (std::int64_t j = task.j0; j < task.j1; ++j) {
                    stage_varying(j, mode_, s.b, s);
                    product(mode_, s.a, s.b, s.ct);
                    if (!top.bound) {
                        select(top, task.i, j, s.a.valid, s.b.valid, s.ct.data(), s.a.padded, s.hits);
                    } else if (!select_rescored(top, task.i, j, s.ct.data(), s.a.padded, s)) {
                        // Too many pairs near the gates (duplicates, a tight blob) to re-score one by one: the
                        // block pair's fp32 product scores them all at the kernel's speed (the same values).
                        if (s.a32_block != task.i) {
                            pack_fixed(task.i, Mode::f32, s.a32, s);
                            s.a32_block = task.i;
                        }
                        stage_varying(j, Mode::f32, s.b32, s);
                        product(Mode::f32, s.a32, s.b32, s.ct);
                        select(top, task.i, j, s.a32.valid, s.b32.valid, s.ct.data(), s.a32.padded, s.hits);
                        const std::int64_t na = s.a32.valid, nb = s.b32.valid;
                        s.rescored += task.i == j ? na * (na - 1) : 2 * na * nb;  // both rows of every pair
                    }
                }
            },
            [&](std::int64_t t) {
                const Task task = task_of(t);
                return task.j1 - task.j0;
            });
        std::int64_t rescored = 0;
        for (const Scratch& s : scratch) rescored += s.rescored;
        return rescored;
    }

    // Per row: the lowest exact (fp32) score of the K candidates in `probe`'s list, or -inf for a list
    // not yet full. A lower bound of the row's final K-th best that starts its int8 gate one bound wide.
    std::vector<float> exact_floors(const TopK& probe, const Hooks& hooks) {
        std::vector<float> floor(n_, -std::numeric_limits<float>::infinity());
        auto lowest = [&](std::int64_t q, const std::int32_t*, const float* exact, int) {
            floor[q] = *std::min_element(exact, exact + probe.K);
        };
        for_each_list(probe, Hooks{hooks.interrupt, {}}, lowest);
        return floor;
    }

    // Shortlist -> exact fp32 similarities (the fp32 path's values), best k of each row's shortlist
    // (the K kept by the bf16 pass).
    void rescore(const TopK& top, MatrixView<std::int32_t> indices, MatrixView<float> sims, const Hooks& hooks) {
        const std::int64_t k = p_.k;
        const int nt = resolve_threads(p_.threads);
        std::vector<std::vector<std::pair<float, std::int32_t>>> order(nt);
        for_each_list(top, hooks, [&](std::int64_t q, const std::int32_t* ids, const float* exact, int tid) {
            auto& o = order[tid];
            o.clear();
            for (std::int64_t m = 0; m < top.K; ++m) o.emplace_back(exact[m], ids[m]);
            std::partial_sort(o.begin(), o.begin() + k, o.end(), [](const auto& u, const auto& v) {
                return detail::ranks_before(u.first, u.second, v.first, v.second);
            });
            for (std::int64_t m = 0; m < k; ++m) {
                indices(q, m) = o[m].second;
                sims(q, m) = o[m].first;
            }
        });
    }

    std::int64_t nblocks() const { return nblocks_; }

private:
    // fn(q, ids, exact, tid) for every row q whose list in `top` is full: ids its K candidates, exact their
    // fp32 similarities (the fp32 path's values, bit for bit). Parallel over row blocks.
    template <typename Fn>
    void for_each_list(const TopK& top, const Hooks& hooks, Fn&& fn) {
        const std::int64_t K = top.K;
        const int nt = resolve_threads(p_.threads);
        struct Buffers {
            std::vector<float> q, rows, dots;
            std::vector<const float*> qs, cands;
        };
        std::vector<Buffers> buf(nt);
        parallel_for(nblocks_, nt, hooks, [&](std::int64_t blk, int tid) {
            Buffers& b = buf[tid];
            b.cands.resize(K);
            b.dots.resize(K);
            if constexpr (!std::is_same_v<T, float>) b.rows.resize(K * d_);
            for (std::int64_t q = blk * bs_; q < std::min(n_, (blk + 1) * bs_); ++q) {
                if (top.count[q] < K) continue;
                const std::int32_t* ids = top.idx.data() + q * K;
                b.qs.assign(K, row_f32(q, b.q));
                for (std::int64_t m = 0; m < K; ++m) {
                    if constexpr (std::is_same_v<T, float>) {
                        b.cands[m] = x_.row(ids[m]);
                    } else {
                        kern_.fp16_to_f32(x_.row(ids[m]), b.rows.data() + m * d_, d_);
                        b.cands[m] = b.rows.data() + m * d_;
                    }
                }
                kern_.pair_dots(b.qs.data(), b.cands.data(), K, d_, b.dots.data());
                for (std::int64_t m = 0; m < K; ++m) b.dots[m] *= inv_[q] * inv_[ids[m]];
                fn(q, ids, b.dots.data(), tid);
            }
        });
    }

    // Row r as fp32: the input itself for float32, converted into `tmp` for float16.
    const float* row_f32(std::int64_t r, std::vector<float>& tmp) const { return detail::row_as_f32(x_, r, kern_, tmp); }

    // Block `blk` as transposed panels of kPanel rows: panel p holds (k, c) = row p*kPanel + c, column k.
    void pack_fixed(std::int64_t blk, Mode mode, Fixed& f, Scratch& s) {
        const std::int64_t r0 = blk * bs_;
        f.valid = std::min(bs_, n_ - r0);
        f.padded = round_up(f.valid, kPanel);
        f.inv.assign(f.padded, 0.0f);
        if (mode == Mode::i8) {
            std::copy_n(scale_.begin() + r0, f.valid, f.inv.begin());
            f.corr.assign(f.padded, 0);
            std::copy_n(corr_.begin() + r0, f.valid, f.corr.begin());
            f.panels_w.assign(f.padded * d4_, 0);
            detail::pack_code_panels(codes_.data() + r0 * d4_, f.valid, d4_, f.panels_w.data());
            return;
        }
        std::copy_n(inv_.begin() + r0, f.valid, f.inv.begin());
        if (mode == Mode::bf16) {
            f.panels_w.assign(f.padded * d2_, 0);
            for (std::int64_t r = 0; r < f.valid; ++r) {
                const std::uint32_t* src = to_bf16(r0 + r, s);
                std::uint32_t* dst = f.panels_w.data() + (r / kPanel) * d2_ * kPanel + r % kPanel;
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
    void stage_varying(std::int64_t blk, Mode mode, Varying& v, Scratch& s) {
        const std::int64_t r0 = blk * bs_;
        v.valid = std::min(bs_, n_ - r0);
        v.padded = round_up(v.valid, kRowsV);
        v.inv.assign(v.padded, 0.0f);
        std::copy_n((mode == Mode::i8 ? scale_ : inv_).begin() + r0, v.valid, v.inv.begin());
        v.rows_f32.clear();
        v.rows_w.clear();
        if (mode == Mode::i8) {
            for (std::int64_t r = 0; r < v.valid; ++r) v.rows_w.push_back(codes_.data() + (r0 + r) * d4_);
            v.rows_w.resize(v.padded, zero_w_.data());
        } else if (mode == Mode::bf16) {
            v.words.resize(v.valid * d2_);
            for (std::int64_t r = 0; r < v.valid; ++r) {
                std::copy_n(to_bf16(r0 + r, s), d2_, v.words.data() + r * d2_);
                v.rows_w.push_back(v.words.data() + r * d2_);
            }
            v.rows_w.resize(v.padded, zero_w_.data());
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

    void product(Mode mode, const Fixed& a, const Varying& b, std::vector<float>& ct) {
        ct.resize(b.padded * a.padded);
        if (mode == Mode::i8) {
            kern_.block_dot_i8(b.rows_w.data(), b.inv.data(), b.padded, a.panels_w.data(), a.corr.data(),
                               a.inv.data(), a.padded, d4_, ct.data(), a.padded);
        } else if (mode == Mode::bf16) {
            kern_.block_dot_bf16(b.rows_w.data(), b.inv.data(), b.padded, a.panels_w.data(), a.inv.data(),
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

    // The int8 join with its gates: every pair of rows (bi*bs + a, bj*bs + b) whose int8 score reaches the
    // gate of either row is re-scored in fp32 (pair_dots: the fp32 path's value, bit for bit) and offered to
    // both rows, so the lists hold exact scores and every gate is one bound wide. The pairs of the block pair
    // are re-scored in one batch (pair_dots runs sixteen at a time at its throughput), from the fp32 rows
    // of just two blocks (cache-sized). Returns false, offering nothing, when more than 1 / kRescoreCost of the block
    // pair's pairs would need re-scoring: the caller then runs the fp32 product of the block pair instead.
    bool select_rescored(TopK& top, std::int64_t bi, std::int64_t bj, const float* ct, std::int64_t ldc, Scratch& s) {
        const std::int64_t i0 = bi * bs_, j0 = bj * bs_;
        const std::int64_t na = std::min(bs_, n_ - i0), nb = std::min(bs_, n_ - j0);
        const bool diag = bi == bj;
        std::unique_lock<std::mutex> lock_i(locks_[bi], std::defer_lock), lock_j(locks_[bj], std::defer_lock);
        if (diag) {
            lock_i.lock();
        } else {
            std::lock(lock_i, lock_j);
        }
        s.hits.resize(na);
        s.gates.resize(na);
        s.pairs.clear();
        const std::int64_t limit = na * nb / kRescoreCost;  // more: the fp32 product of the block pair is cheaper
        for (std::int64_t b = 0; b < nb; ++b) {
            const float* row = ct + b * ldc;
            // On the diagonal block, pairs (b, a > b) only, and (b, b) when a row may be its own neighbour.
            const std::int64_t start = diag ? b + 1 : 0;
            const float tb = top.thr[j0 + b];
            for (std::int64_t a = start; a < na; ++a) s.gates[a] = std::min(tb, top.thr[i0 + a]);
            const std::int64_t h = kern_.find_ge_vec(row + start, s.gates.data() + start, na - start, s.hits.data());
            const auto b32 = static_cast<std::int32_t>(b), start32 = static_cast<std::int32_t>(start);
            for (std::int64_t m = 0; m < h; ++m) s.pairs.push_back({b32, start32 + s.hits[m]});
            if (diag && !p_.exclude_self) s.pairs.push_back({b32, b32});
            if (static_cast<std::int64_t>(s.pairs.size()) > 2 * limit) return false;  // before the finer filter
        }
        // The gates use the bound's maxima over all rows; the pair's own bound drops about a third more.
        auto dropped = [&](const std::pair<std::int32_t, std::int32_t>& pr) {
            const std::int64_t gb = j0 + pr.first, ga = i0 + pr.second;
            const float score = ct[pr.first * ldc + pr.second];
            return gb != ga && !top.bound->may_reach(gb, ga, score, top.kth_floor[gb]) &&
                   !top.bound->may_reach(ga, gb, score, top.kth_floor[ga]);
        };
        s.pairs.erase(std::remove_if(s.pairs.begin(), s.pairs.end(), dropped), s.pairs.end());
        const std::int64_t h = static_cast<std::int64_t>(s.pairs.size());
        if (h == 0) return true;
        if (h > limit) return false;
        s.qs.resize(h);
        s.cands.resize(h);
        s.dots.resize(h);
        const float* rows_i = block_f32(i0, na, s.rows_i);
        const float* rows_j = block_f32(j0, nb, s.rows_j);
        const std::int64_t ld = std::is_same_v<T, float> ? x_.row_stride : d_;
        for (std::int64_t m = 0; m < h; ++m) {
            s.qs[m] = rows_j + s.pairs[m].first * ld;
            s.cands[m] = rows_i + s.pairs[m].second * ld;
        }
        kern_.pair_dots(s.qs.data(), s.cands.data(), h, d_, s.dots.data());
        for (std::int64_t m = 0; m < h; ++m) {
            const std::int32_t gb = static_cast<std::int32_t>(j0 + s.pairs[m].first);
            const std::int32_t ga = static_cast<std::int32_t>(i0 + s.pairs[m].second);
            const float e = s.dots[m] * (inv_[gb] * inv_[ga]);
            top.offer(gb, e, ga);
            if (ga != gb) top.offer(ga, e, gb);
            s.rescored += ga != gb ? 2 : 1;  // candidates of rows: a pair serves both of its rows
        }
        return true;
    }

    // Rows [r0, r0 + count) as fp32: in place for float32 input (rows x.row_stride apart), else converted
    // into `buf` (rows d apart).
    const float* block_f32(std::int64_t r0, std::int64_t count, std::vector<float>& buf) const {
        if constexpr (std::is_same_v<T, float>) {
            return x_.row(r0);
        } else {
            buf.resize(count * d_);
            for (std::int64_t r = 0; r < count; ++r) kern_.fp16_to_f32(x_.row(r0 + r), buf.data() + r * d_, d_);
            return buf.data();
        }
    }

    const KnnParams& p_;
    MatrixView<const T> x_;
    std::int64_t n_, d_, d2_ = 0, d4_ = 0, bs_ = 1, nblocks_ = 0;
    const Kernels& kern_;
    Mode mode_;
    std::vector<float> inv_;
    std::vector<std::uint32_t> codes_;  // int8: n x d4 words of u8 codes
    std::vector<float> scale_;
    std::vector<std::int32_t> corr_;
    std::vector<float> zero_f32_;
    std::vector<std::uint32_t> zero_w_;
    std::unique_ptr<std::mutex[]> locks_;
};

template <typename T>
KnnRunInfo run(const KnnParams& p, MatrixView<const T> x, MatrixView<std::int32_t> indices,
               MatrixView<float> sims, const Hooks& hooks) {
    const std::int64_t n = x.rows, d = x.cols;
    detail::check_shapes(n, d, p.k, p.exclude_self, indices.rows, indices.cols, sims.rows, sims.cols);
    const std::int64_t max_k = n - (p.exclude_self ? 1 : 0);
    Mode mode = Mode::f32;
    const Kernels& kern = pick_kernels(p.isa, p.precision, d, mode);
    // bf16 rounding moves unit-vector similarities by ~1e-4 typically (2^-7 at worst); k + max(k, 16)
    // candidates leave room for that before the exact re-scoring. int8 re-scores in the join every pair
    // within the certified margin of a row's k-th best (Int8Bound) and keeps exact lists of k.
    const std::int64_t K = mode == Mode::bf16 ? std::min<std::int64_t>(max_k, p.k + std::max(p.k, 16)) : p.k;

    Engine<T> engine(p, x, kern, mode);
    engine.compute_norms(hooks);
    TopK top(n, K);
    double shortlist = static_cast<double>(K);
    Int8Bound bound;
    // int8: a probe pass over the block pairs of the first row blocks (about 2 * probe / nblocks of
    // the int8 work, itself a quarter of the fp32 work) gives every row a K-th best to start its gate
    // from, so the main pass does not re-score the many weak candidates a row meets before its list holds
    // real neighbours: 1/16 of the blocks, and at least kProbeRows rows as candidates (with fewer, a
    // sentence-embedding row's K-th best among them sits far below its final one).
    const std::int64_t bs = engine.block_rows();
    const std::int64_t probe =
        std::max((engine.nblocks() + 8) / 16, std::min(engine.nblocks(), (kProbeRows + bs - 1) / bs));
    if (mode == Mode::i8) {
        bound = engine.quantize(hooks);
        TopK first(n, K);
        engine.self_join(first, Hooks{hooks.interrupt, {}}, probe);
        top.enable_gates(bound, engine.exact_floors(first, hooks));
    }
    if (mode != Mode::bf16) {
        const std::int64_t rescored = engine.self_join(top, hooks);
        if (mode == Mode::i8) shortlist = static_cast<double>(rescored) / static_cast<double>(n);
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
    return KnnRunInfo{kern.name, shortlist, engine.block_rows()};
}

}  // namespace

const Kernels& detail::fp32_kernels(const std::string& isa) {
    Mode mode = Mode::f32;
    return pick_kernels(isa, Precision::fp32, 1, mode);
}

const Kernels* detail::int8_kernels(const std::string& isa, std::int64_t d) {
    Mode mode = Mode::f32;
    const Kernels& k = pick_kernels(isa, Precision::int8, d, mode);
    return mode == Mode::i8 ? &k : nullptr;
}

KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const float> x, MatrixView<std::int32_t> indices,
                     MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x, indices, similarities, hooks);
}

KnnRunInfo knn_graph(const KnnParams& params, MatrixView<const std::uint16_t> x_fp16,
                     MatrixView<std::int32_t> indices, MatrixView<float> similarities, const Hooks& hooks) {
    return run(params, x_fp16, indices, similarities, hooks);
}

}  // namespace rbic::knn
