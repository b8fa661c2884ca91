// Progress and interruption hooks, and the one parallel loop every CPU kernel uses.
#pragma once

#include <atomic>
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

/// Runs fn(task, thread_id) for task in [0, n_tasks) on `threads` threads with dynamic
/// scheduling. Thread 0 is the calling thread and polls `hooks` between tasks (every
/// `poll_every` tasks at most). The first exception from any task stops the others and is
/// rethrown after the join; an interrupt throws rbic::Interrupted. `weight(task)` (optional)
/// gives the progress units of each task; by default every task counts 1.
void parallel_for(std::int64_t n_tasks, int threads, const Hooks& hooks,
                  const std::function<void(std::int64_t task, int thread_id)>& fn,
                  const std::function<std::int64_t(std::int64_t task)>& weight = {});

}  // namespace rbic
