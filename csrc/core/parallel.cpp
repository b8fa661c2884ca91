#include <chrono>
#include <stdexcept>
#include <thread>

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

// Poll at most this often: an interrupt check may have to wait for the GIL.
constexpr auto kPollInterval = std::chrono::milliseconds(20);

struct TaskTeam::Loop {
    const TaskFn* fn;
    const Hooks* hooks;
    const TaskWeight* weight;  // null: every task weighs 1
    std::int64_t total_weight;
};

void TaskTeam::work(int tid) {
    std::uint32_t seen = 0;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return quit_ || loop_id_ != seen; });
            if (quit_) return;
            seen = loop_id_;
        }
        take_tasks(seen, tid, nullptr);
    }
}

void TaskTeam::stop() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
    }
    wake_.notify_all();
}

void TaskTeam::take_tasks(std::uint32_t loop_id, int tid, const Hooks* hooks) {
    auto last_poll = std::chrono::steady_clock::now();
    for (;;) {
        std::uint64_t v = next_.load(std::memory_order_acquire);
        if (static_cast<std::uint32_t>(v >> 32) != loop_id) return;
        const std::int64_t task = static_cast<std::int64_t>(v & 0xFFFFFFFFu);
        if (task >= n_tasks_.load(std::memory_order_relaxed)) return;
        if (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
        // The loop cannot end before this task is counted done, so loop_ is this loop's.
        const Loop& loop = *loop_.load(std::memory_order_relaxed);
        if (!failed_.load(std::memory_order_relaxed)) {
            try {
                (*loop.fn)(task, tid);
                done_weight_.fetch_add(loop.weight ? (*loop.weight)(task) : 1, std::memory_order_relaxed);
                const auto now = std::chrono::steady_clock::now();
                if (hooks != nullptr && now - last_poll >= kPollInterval) {
                    last_poll = now;
                    if (hooks->interrupt && hooks->interrupt()) throw Interrupted();
                    if (hooks->progress)
                        hooks->progress(done_weight_.load(std::memory_order_relaxed), loop.total_weight);
                }
            } catch (...) {
                std::lock_guard<std::mutex> lock(error_mutex_);
                if (!error_) error_ = std::current_exception();
                failed_.store(true, std::memory_order_relaxed);
            }
        }
        done_.fetch_add(1, std::memory_order_acq_rel);
    }
}

void TaskTeam::run(std::int64_t n_tasks, const TaskFn& fn, const Hooks& hooks, const TaskWeight& weight) {
    if (n_tasks <= 0) return;
    if (n_tasks > 0xFFFFFFFFll) throw std::invalid_argument("TaskTeam::run: more than 2^32 - 1 tasks");
    std::int64_t total = n_tasks;
    if (weight) {
        total = 0;
        for (std::int64_t t = 0; t < n_tasks; ++t) total += weight(t);
    }
    const Loop loop{&fn, &hooks, weight ? &weight : nullptr, total};
    std::uint32_t id;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        id = ++loop_id_;
        // Every task of the previous loop is done: no worker touches these until next_ carries `id`.
        error_ = nullptr;
        failed_.store(false, std::memory_order_relaxed);
        loop_.store(&loop, std::memory_order_relaxed);
        n_tasks_.store(n_tasks, std::memory_order_relaxed);
        done_.store(0, std::memory_order_relaxed);
        done_weight_.store(0, std::memory_order_relaxed);
        next_.store(static_cast<std::uint64_t>(id) << 32, std::memory_order_release);
    }
    if (threads_ > 1) wake_.notify_all();
    take_tasks(id, 0, &hooks);
    for (int spin = 0; done_.load(std::memory_order_acquire) < n_tasks; ++spin) {
        if (spin > 64) std::this_thread::yield();  // let a preempted worker finish its task
    }
    if (error_) std::rethrow_exception(error_);
    if (hooks.interrupt && hooks.interrupt()) throw Interrupted();
    if (hooks.progress) hooks.progress(total, total);
}

void with_team(int threads, const std::function<void(TaskTeam&)>& body) {
    const int nt = resolve_threads(threads);
    TaskTeam team(nt);
#ifdef RBIC_WITH_OPENMP
    if (nt > 1) {
        // Nothing may escape an OpenMP region: body's exception is carried out by hand, and workers
        // catch everything into the team's error.
        std::exception_ptr error;
#pragma omp parallel num_threads(nt)
        {
            if (omp_get_thread_num() == 0) {
                try {
                    body(team);
                } catch (...) {
                    error = std::current_exception();
                }
                team.stop();
            } else {
                team.work(omp_get_thread_num());
            }
        }
        if (error) std::rethrow_exception(error);
        return;
    }
#endif
    team.threads_ = 1;
    body(team);
}

void parallel_for(std::int64_t n_tasks, int threads, const Hooks& hooks, const TaskFn& fn,
                  const TaskWeight& weight) {
    if (n_tasks <= 0) return;
    int nt = resolve_threads(threads);
    if (nt > n_tasks) nt = static_cast<int>(n_tasks);
    with_team(nt, [&](TaskTeam& team) { team.run(n_tasks, fn, hooks, weight); });
}

}  // namespace rbic
