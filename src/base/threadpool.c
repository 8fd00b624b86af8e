/* threadpool.c — see threadpool.h. */
#define _POSIX_C_SOURCE 200809L
#include "threadpool.h"
#include "base/alloc.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define SPIN_ROUNDS 200000  /* ~ a millisecond of polling before a worker sleeps */
#define YIELD_AFTER 2000    /* then give the core away between polls: with more threads
                               than free cores, pure spinning starves the thread awaited */

typedef struct worker { struct mllm_pool *pool; int ith; pthread_t thread; } worker;

struct mllm_pool {
    int n;                      /* threads, caller included */
    worker *workers;            /* n - 1 */
    mllm_task_fn fn;
    void *ctx;
    atomic_int generation;      /* bumped for every job */
    atomic_int pending;         /* workers still running the current job */
    atomic_bool quit;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int sleepers;
};

static void *worker_main(void *arg)
{
    worker *w = arg;
    mllm_pool *p = w->pool;
    int seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen &&
               !atomic_load_explicit(&p->quit, memory_order_acquire)) {
            if (++spins < SPIN_ROUNDS) {
                if (spins > YIELD_AFTER) sched_yield();
                else cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->lock);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->quit)) {
                p->sleepers++;
                pthread_cond_wait(&p->wake, &p->lock);
                p->sleepers--;
            }
            pthread_mutex_unlock(&p->lock);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        p->fn(p->ctx, w->ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

mllm_pool *mllm_pool_new(int n_threads)
{
    if (n_threads <= 1) return NULL;
    mllm_pool *p = mllm_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->workers = mllm_calloc((size_t)n_threads - 1, sizeof *p->workers);
    if (!p->workers) { mllm_free(p); return NULL; }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->n = 1;
    for (int i = 1; i < n_threads; i++) {
        worker *w = &p->workers[i - 1];
        w->pool = p;
        w->ith = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) break;
        p->n++;
    }
    return p;  /* with fewer threads if the system refused some */
}

void mllm_pool_free(mllm_pool *p)
{
    if (!p) return;
    atomic_store(&p->quit, true);
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->n; i++) pthread_join(p->workers[i - 1].thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    mllm_free(p->workers);
    mllm_free(p);
}

void mllm_pool_run(mllm_pool *p, mllm_task_fn fn, void *ctx)
{
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_mutex_lock(&p->lock);
    if (p->sleepers) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    fn(ctx, 0, p->n);
    for (int spins = 0; atomic_load_explicit(&p->pending, memory_order_acquire) > 0; spins++) {
        if (spins > YIELD_AFTER) sched_yield();
        else cpu_relax();
    }
}

int mllm_pool_size(const mllm_pool *p)
{
    return p ? p->n : 1;
}
