/* batch_cost.c — what a batch of T tokens costs against one token, the number copy drafts
 * depend on (docs/performance.md, "Copy drafts"): a batch evaluated with every row kept, as
 * a draft is, after a 64-token prompt, T = 1, 2, 3, 5, 9, 17, each the mean of 40 runs,
 * three rounds.
 *
 *   make build/batch_cost && build/batch_cost DIR [THREADS] */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [THREADS]\n", argv[0]);
        return 2;
    }
    char err[MLLM_ERRLEN];
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = argc > 2 ? atoi(argv[2]) : 1;
    mllm_model *m;
    mllm_session *s;
    mllm_session_params sp = mllm_session_default_params();
    sp.n_ctx = 256;
    if (mllm_model_load(argv[1], &mp, &m, err, sizeof err) || mllm_session_new(m, &sp, &s, err, sizeof err) ||
        mllm_session_reserve_rows(s, 17, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int V = mllm_model_config(m)->vocab_size;
    int32_t ids[64];
    for (int i = 0; i < 64; i++) ids[i] = (int32_t)(3 + (i * 7919) % (V - 3));
    if (mllm_session_eval(s, ids, 64, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("%s, %s kernels, %d thread(s): ms per batch (times one token)\n", argv[1], mllm_model_kernels(m),
           mllm_model_n_threads(m));
    const int sizes[] = { 1, 2, 3, 5, 9, 17 };
    for (int round = 0; round < 3; round++) {
        double one = 0;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
            int T = sizes[i], runs = 40;
            double t0 = mllm_now();
            for (int r = 0; r < runs; r++) {
                if (T == 1) mllm_forward(s, ids, 1);
                else mllm_forward_rows(s, ids, T);
                s->pos = 64;  /* the batch again at the same place */
            }
            double ms = (mllm_now() - t0) / runs * 1e3;
            if (T == 1) one = ms;
            printf("T=%d %.3f (%.2fx)  ", T, ms, ms / one);
        }
        printf("\n");
    }
    mllm_session_free(s);
    mllm_model_release(m);
    return 0;
}
