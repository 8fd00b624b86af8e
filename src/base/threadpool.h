/* threadpool.h — a persistent pool of worker threads (pthreads). A session
 * starts one; every matrix product of a token is one job split over the
 * threads, so no thread is created per token. Workers spin briefly between
 * jobs (a decode step runs ~150 jobs) and then sleep on a condition variable. */
#ifndef MLLM_THREADPOOL_H
#define MLLM_THREADPOOL_H

typedef void (*mllm_task_fn)(void *ctx, int ith, int nth);
typedef struct mllm_pool mllm_pool;

/* n_threads counts the caller; returns NULL (no pool: run inline) for 1. */
mllm_pool *mllm_pool_new(int n_threads);
void mllm_pool_free(mllm_pool *p);
/* Runs fn(ctx, i, n) for every thread i in [0, n) — the caller is thread 0 —
 * and returns when all have finished. p == NULL runs fn(ctx, 0, 1). */
void mllm_pool_run(mllm_pool *p, mllm_task_fn fn, void *ctx);
int mllm_pool_size(const mllm_pool *p);

#endif
