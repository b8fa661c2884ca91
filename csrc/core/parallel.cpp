#include <chrono>

#include "rbic/hooks.hpp"

#ifdef RBIC_WITH_OPENMP
#include <omp.h>
#endif

namespace rbic {

int resolve_threads(int requested) {
    if (requested > 0) return requested;
#ifdef RBIC_WITH_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

namespace {

// Shared state of one parallel_for call. Only thread 0 (the caller) touches the hooks.
struct LoopState {
    std::atomic<std::int64_t> next{0};
    std::atomic<std::int64_t> done{0};
    std::atomic<bool> stop{false};
    std::mutex error_mutex;
    std::exception_ptr error;

    void fail(std::exception_ptr e) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = e;
        stop.store(true, std::memory_order_relaxed);
    }
};

// Poll at most this often: an interrupt check may have to wait for the GIL.
constexpr auto kPollInterval = std::chrono::milliseconds(20);

void worker(LoopState& st, std::int64_t n_tasks, std::int64_t total_weight, int tid, const Hooks& hooks,
            const std::function<void(std::int64_t, int)>& fn,
            const std::function<std::int64_t(std::int64_t)>& weight) {
    auto last_poll = std::chrono::steady_clock::now();
    while (!st.stop.load(std::memory_order_relaxed)) {
        std::int64_t task = st.next.fetch_add(1, std::memory_order_relaxed);
        if (task >= n_tasks) break;
        try {
            fn(task, tid);
        } catch (...) {
            st.fail(std::current_exception());
            break;
        }
        st.done.fetch_add(weight ? weight(task) : 1, std::memory_order_relaxed);
        if (tid != 0) continue;
        auto now = std::chrono::steady_clock::now();
        if (now - last_poll < kPollInterval) continue;
        last_poll = now;
        try {
            if (hooks.interrupt && hooks.interrupt()) throw Interrupted();
            if (hooks.progress) hooks.progress(st.done.load(std::memory_order_relaxed), total_weight);
        } catch (...) {
            st.fail(std::current_exception());
            break;
        }
    }
}

}  // namespace

void parallel_for(std::int64_t n_tasks, int threads, const Hooks& hooks,
                  const std::function<void(std::int64_t, int)>& fn,
                  const std::function<std::int64_t(std::int64_t)>& weight) {
    if (n_tasks <= 0) return;
    std::int64_t total_weight = 0;
    if (weight) {
        for (std::int64_t t = 0; t < n_tasks; ++t) total_weight += weight(t);
    } else {
        total_weight = n_tasks;
    }
    LoopState st;
    int nt = resolve_threads(threads);
    if (nt > n_tasks) nt = static_cast<int>(n_tasks);
#ifdef RBIC_WITH_OPENMP
    if (nt > 1) {
        // Nothing may escape an OpenMP region: worker() catches everything into st.error.
#pragma omp parallel num_threads(nt)
        worker(st, n_tasks, total_weight, omp_get_thread_num(), hooks, fn, weight);
    } else {
        worker(st, n_tasks, total_weight, 0, hooks, fn, weight);
    }
#else
    worker(st, n_tasks, total_weight, 0, hooks, fn, weight);
#endif
    if (st.error) std::rethrow_exception(st.error);
    if (hooks.interrupt && hooks.interrupt()) throw Interrupted();
    if (hooks.progress) hooks.progress(total_weight, total_weight);
}

}  // namespace rbic
