// Progress and interruption hooks, and the one parallel loop every CPU kernel uses.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>

#include "rbic/types.hpp"

namespace rbic {

/// Callbacks a kernel polls from the *calling* thread only (the OpenMP master), so a binding may
/// take the GIL inside them. Both may be empty.
struct Hooks {
    /// Return true to stop the kernel; it then throws rbic::Interrupted.
    std::function<bool()> interrupt;
    /// Called with (items done, items total) as work completes, and once more at the end.
    std::function<void(std::int64_t, std::int64_t)> progress;
};

/// Number of worker threads to use: `requested` if > 0, otherwise the OpenMP default
/// (OMP_NUM_THREADS or the core count), and 1 without OpenMP.
int resolve_threads(int requested);

using TaskFn = std::function<void(std::int64_t task, int thread_id)>;
using TaskWeight = std::function<std::int64_t(std::int64_t task)>;

/// Worker threads kept for a series of parallel loops (e.g. every step of a Leiden call), so a loop
/// costs a wake-up instead of a thread-team start. Made only by with_team(). A loop's tasks are handed
/// out through one atomic counter tagged with the loop number; the calling thread (thread 0) works
/// through them too and then waits only for tasks a worker has taken, never for a worker to wake up.
/// Between loops the workers sleep, so a descheduled or idle worker costs the caller nothing.
class TaskTeam {
public:
    /// Threads serving run(), the caller included.
    int threads() const { return threads_; }

    /// Runs fn(task, thread_id) for task in [0, n_tasks) with dynamic scheduling. Thread 0 polls
    /// `hooks` between its tasks, at most every 20 ms (Ctrl-C, then progress in units of
    /// `weight(task)`, 1 per task by default). The first exception from any task stops the
    /// others and is rethrown here once every taken task is done; an interrupt throws
    /// rbic::Interrupted.
    void run(std::int64_t n_tasks, const TaskFn& fn, const Hooks& hooks = {}, const TaskWeight& weight = {});

private:
    friend void with_team(int, const std::function<void(TaskTeam&)>&);
    explicit TaskTeam(int threads) : threads_(threads) {}
    void work(int tid);
    void stop();
    void take_tasks(std::uint32_t loop, int tid, const Hooks* hooks);

    struct Loop;  // the running loop's fn, hooks, weights and progress clock
    int threads_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::uint32_t loop_id_ = 0;  // guarded by mutex_
    bool quit_ = false;          // guarded by mutex_
    std::atomic<std::uint64_t> next_{0};  // (loop_id << 32) | next task
    std::atomic<std::int64_t> n_tasks_{0}, done_{0}, done_weight_{0};
    std::atomic<const Loop*> loop_{nullptr};
    std::atomic<bool> failed_{false};
    std::mutex error_mutex_;
    std::exception_ptr error_;
};

/// Runs body(team) on the calling thread while `threads - 1` more threads (0: resolve_threads)
/// serve team.run(); returns when body returns and rethrows what it throws.
void with_team(int threads, const std::function<void(TaskTeam&)>& body);

/// One parallel loop: fn(task, thread_id) for task in [0, n_tasks) on `threads` threads with
/// dynamic scheduling, polling `hooks` from the calling thread (see TaskTeam::run), and a final
/// interrupt check and progress(total, total) at the end.
void parallel_for(std::int64_t n_tasks, int threads, const Hooks& hooks, const TaskFn& fn,
                  const TaskWeight& weight = {});

}  // namespace rbic
