/// clock_gettime and CLOCK_MONOTONIC are POSIX, hidden by a strict -std=c11 without this.
#define _POSIX_C_SOURCE 200809L

#include "ck_thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

/// Workers that may exist; more threads than this are never useful on one machine.
#define MAX_WORKERS 255

/// How long an idle worker spins before it sleeps: long enough to bridge the gap between two
/// operators' jobs, short enough that an idle process soon uses no CPU.
#define SPIN_NS 2000000L

/// How long a waiting thread spins with pause instructions only before it also yields its core
/// between checks (on a loaded machine the thread it waits for may need that core).
#define PAUSE_NS 5000L

/// Chunks a job may have: the claim word holds two 16-bit chunk indices. Larger jobs run inline
/// (Parallel never cuts a loop into more than a few chunks per thread).
#define MAX_CHUNKS 0xFFFFL

/// The index part of the claim word while a new job is being set up: front past back, so no
/// chunk can be claimed.
#define CLAIM_CLOSED ((uint32_t)0xFFFF0000u)

/// The process-wide pool. One job at a time, set up by the thread holding `job_lock`.
///
/// A job's chunks are claimed through `claim`: the job's generation in the high 32 bits, then the
/// unclaimed chunks [front, back) as two 16-bit indices. The caller takes chunks from the front,
/// workers from the back: each thread works through a contiguous stretch of the loop, the same
/// stretch from one operator to the next when they split alike, so the data it wrote stays in
/// its core's cache (on a machine whose cores do not share a cache that matters more than the
/// claiming itself). A worker reads the job (function, context, count) after reading `claim`, and
/// then claims with a compare-and-swap that expects the generation it read; so a late worker that
/// read a finished job's fields can never claim a newer job's chunk with them (the owner closes
/// `claim` before it rewrites the fields). The owner returns once `finished` reaches the count:
/// it never waits for a worker that was too slow to join.
static struct {
    /// Held by the thread whose job is running; others run their chunks inline.
    pthread_mutex_t job_lock;
    /// Workers created so far (only grows; changed under `job_lock`).
    int worker_count;

    /// The current job. Written by the owner between closing and opening `claim`.
    _Atomic(ck_pool_chunk_function) function;
    _Atomic(void *) context;
    _Atomic long chunk_count;
    /// Workers with an index below this help with the current job (the caller's `threads` - 1).
    /// Read without ordering: a stale value only changes how many workers help, never the result.
    _Atomic int helpers;

    /// Generation and next chunk, as described above.
    _Alignas(64) _Atomic uint64_t claim;
    /// Chunks of the current job that have finished.
    _Alignas(64) _Atomic long finished;
    /// Bumped for every job: what idle workers watch.
    _Alignas(64) _Atomic uint32_t signal;

    /// Sleeping workers wait on `wake` under `sleep_lock`; `sleepers` tells the owner to signal.
    _Alignas(64) _Atomic int sleepers;
    pthread_mutex_t sleep_lock;
    pthread_cond_t wake;
} pool = {
    .job_lock = PTHREAD_MUTEX_INITIALIZER,
    .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
    .wake = PTHREAD_COND_INITIALIZER,
};

/// True on the pool's workers, and on a caller while its job runs: their nested calls run inline.
static _Thread_local int inside_pool;

/// Tells the CPU this is a spin-wait loop (saves power, frees the core's other hyperthread).
static inline void spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Monotonic time in nanoseconds.
static long now_ns(void) {
    struct timespec time;
    clock_gettime(CLOCK_MONOTONIC, &time);
    return time.tv_sec * 1000000000L + time.tv_nsec;
}

/// Claims and runs chunks of the current job until none is left: from the front (the caller)
/// or from the back (workers).
static void run_chunks(int from_front) {
    for (;;) {
        uint64_t claim = atomic_load_explicit(&pool.claim, memory_order_acquire);
        uint32_t front = (uint32_t)(claim >> 16) & 0xFFFF, back = (uint32_t)claim & 0xFFFF;
        if (front >= back) return;
        ck_pool_chunk_function function = atomic_load_explicit(&pool.function, memory_order_acquire);
        void *context = atomic_load_explicit(&pool.context, memory_order_acquire);
        long count = atomic_load_explicit(&pool.chunk_count, memory_order_acquire);
        if ((long)back > count) return;
        long chunk = from_front ? (long)front : (long)back - 1;
        uint64_t claimed = from_front ? claim + (1u << 16) : claim - 1;
        // Fails if another thread claimed a chunk, or if the job changed since `claim` was read
        // (then the fields just read may belong to the next job; try again with fresh ones).
        if (!atomic_compare_exchange_weak_explicit(&pool.claim, &claim, claimed,
                                                   memory_order_acq_rel, memory_order_relaxed))
            continue;
        function(context, chunk);
        atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release);
    }
}

/// Waits until `signal` differs from `seen`: spins with pause instructions for PAUSE_NS, then
/// spins yielding the core (so a runnable thread sharing it, maybe the caller, gets it) until
/// SPIN_NS, then sleeps. Returns the new value.
static uint32_t wait_for_job(uint32_t seen) {
    long start = now_ns();
    for (;;) {
        for (int i = 0; i < 64; i++) {
            uint32_t signal = atomic_load_explicit(&pool.signal, memory_order_acquire);
            if (signal != seen) return signal;
            spin_pause();
        }
        long waited = now_ns() - start;
        if (waited >= SPIN_NS) break;
        if (waited >= PAUSE_NS) sched_yield();
    }
    pthread_mutex_lock(&pool.sleep_lock);
    atomic_fetch_add(&pool.sleepers, 1);
    uint32_t signal;
    while ((signal = atomic_load(&pool.signal)) == seen)
        pthread_cond_wait(&pool.wake, &pool.sleep_lock);
    atomic_fetch_sub(&pool.sleepers, 1);
    pthread_mutex_unlock(&pool.sleep_lock);
    return signal;
}

/// Waits until `count` chunks of the current job have finished (the last ones may still be running
/// on workers): spins with pauses for PAUSE_NS, then yields the core between checks, in case
/// one of those workers is waiting for it.
static void wait_for_chunks(long count) {
    long start = 0;
    while (atomic_load_explicit(&pool.finished, memory_order_acquire) < count) {
        for (int i = 0; i < 64; i++) spin_pause();
        if (start == 0) start = now_ns();
        else if (now_ns() - start >= PAUSE_NS) sched_yield();
    }
}

/// A worker's life: wait for a job, help with it if its index is among the job's helpers, repeat.
static void *worker_main(void *argument) {
    int index = (int)(intptr_t)argument;
    inside_pool = 1;
    uint32_t seen = atomic_load(&pool.signal);
    for (;;) {
        seen = wait_for_job(seen);
        if (index < atomic_load_explicit(&pool.helpers, memory_order_relaxed)) run_chunks(0);
    }
    return NULL;
}

/// Creates workers until there are `count` (called under `job_lock`). Stops early if the system
/// refuses a thread; the jobs then just have fewer helpers.
static void ensure_workers(int count) {
    while (pool.worker_count < count) {
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        pthread_t thread;
        int failed = pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)pool.worker_count);
        pthread_attr_destroy(&attributes);
        if (failed) return;
        pool.worker_count++;
    }
}

/// The number of online cores, at least 1 (read once; races on first use write the same value).
static int core_count(void) {
    static volatile int cached = 0;
    if (cached == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cached = cores < 1 ? 1 : cores > MAX_WORKERS + 1 ? MAX_WORKERS + 1 : (int)cores;
    }
    return cached;
}

void ck_pool_run(long chunk_count, int threads, void *context, ck_pool_chunk_function function) {
    if (threads > core_count()) threads = core_count();
    if (threads <= 1 || chunk_count <= 1 || chunk_count > MAX_CHUNKS || inside_pool
        || pthread_mutex_trylock(&pool.job_lock) != 0) {
        for (long chunk = 0; chunk < chunk_count; chunk++) function(context, chunk);
        return;
    }
    ensure_workers(threads - 1);

    // Close the claim word under the next generation, write the job, then open it.
    uint64_t generation = (atomic_load_explicit(&pool.claim, memory_order_relaxed) >> 32) + 1;
    atomic_store_explicit(&pool.claim, generation << 32 | CLAIM_CLOSED, memory_order_relaxed);
    atomic_store_explicit(&pool.function, function, memory_order_release);
    atomic_store_explicit(&pool.context, context, memory_order_release);
    atomic_store_explicit(&pool.chunk_count, chunk_count, memory_order_release);
    atomic_store_explicit(&pool.finished, 0, memory_order_relaxed);
    atomic_store_explicit(&pool.helpers, threads - 1, memory_order_relaxed);
    atomic_store_explicit(&pool.claim, generation << 32 | (uint64_t)chunk_count, memory_order_release);

    // Wake the workers: spinning ones see `signal` change; sleeping ones need the condition.
    atomic_fetch_add(&pool.signal, 1);
    if (atomic_load(&pool.sleepers) > 0) {
        pthread_mutex_lock(&pool.sleep_lock);
        pthread_cond_broadcast(&pool.wake);
        pthread_mutex_unlock(&pool.sleep_lock);
    }

    inside_pool = 1;
    run_chunks(1);
    inside_pool = 0;
    wait_for_chunks(chunk_count);
    pthread_mutex_unlock(&pool.job_lock);
}
