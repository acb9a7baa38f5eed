#ifndef CK_THREAD_POOL_H
#define CK_THREAD_POOL_H

/// Work for the pool: called once for every chunk index, with the caller's context.
typedef void (*ck_pool_chunk_function)(void *context, long chunk);

/// Calls `function(context, chunk)` once for every chunk in `0..<chunk_count`, on up to `threads`
/// threads (capped at the core count): the calling thread and process-wide workers, created on
/// first use, that spin for 50 µs after each job and then sleep. Returns when every chunk has
/// finished. Runs every chunk on the calling thread when `threads` ≤ 1, when the pool is busy
/// with another caller's job, or when called from inside a chunk (so nested calls never wait).
void ck_pool_run(long chunk_count, int threads, void *context, ck_pool_chunk_function function);

#endif
