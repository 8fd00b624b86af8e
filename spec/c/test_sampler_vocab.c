/* test_sampler_vocab.c — the sampler over a 128256-token vocabulary (Llama 3 /
 * MobileLLM-R1, issue 37): greedy is the argmax; top-k keeps exactly the k best;
 * top-p keeps exactly the nucleus of the sorted distribution when it spans
 * several of the heads the sampler sorts (64, 128, 256...), with ties in id
 * order; min-p on top. Prints TAP-style lines; exits non-zero when a check fails. */
#include "mobilellm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "check.h"

#define N_VOCAB 128256
#define N_HIGH 300   /* ids with the high logit: every 401st id from 17 */
#define HIGH 10.0f
#define N_DRAWS 400

static int high_id(int j) { return 17 + 401 * j; }

/* Whether each of N_DRAWS draws is one of the first `allowed` high ids, and how many distinct ones came. */
static void draw(const mllm_sampler_params *p, const float *logits, int allowed, const char *what)
{
    mllm_sampler *s;
    char err[MLLM_ERRLEN];
    if (mllm_sampler_new(p, N_VOCAB, &s, err, sizeof err) != MLLM_OK) {
        check(0, err);
        return;
    }
    static unsigned char seen[N_HIGH];
    int outside = 0, distinct = 0;
    for (int j = 0; j < N_HIGH; j++) seen[j] = 0;
    for (int i = 0; i < N_DRAWS; i++) {
        int32_t id = mllm_sampler_sample(s, logits, NULL, 0);
        int j = (id - 17) / 401;
        if (id < 17 || (id - 17) % 401 != 0 || j >= allowed) outside++;
        else if (!seen[j]++) distinct++;
    }
    mllm_sampler_free(s);
    char line[200];
    snprintf(line, sizeof line, "%s: every draw among the first %d high ids (%d outside), %d of them drawn", what,
             allowed, outside, distinct);
    check(outside == 0 && distinct > allowed / 2, line);
}

int main(void)
{
    float *logits = calloc(N_VOCAB, sizeof *logits);
    if (!logits) return 1;
    for (int j = 0; j < N_HIGH; j++) logits[high_id(j)] = HIGH;
    logits[high_id(123)] = HIGH + 1.0f;  /* one argmax */

    mllm_sampler_params p = mllm_sampler_default_params();
    mllm_sampler *s;
    char err[MLLM_ERRLEN];
    check(mllm_sampler_new(&p, N_VOCAB, &s, err, sizeof err) == MLLM_OK, "greedy sampler");
    check(mllm_sampler_sample(s, logits, NULL, 0) == high_id(123), "greedy: the argmax of 128256 logits");
    mllm_sampler_free(s);
    logits[high_id(123)] = HIGH;

    /* every high id has p = e^10 / (300 e^10 + 127956) = 0.00327: the nucleus of 0.9 is
       ceil(0.9 / p) = 276 of them, the lowest ids first (ties), past the 64/128/256 heads */
    double ph = exp((double)HIGH) / (N_HIGH * exp((double)HIGH) + (N_VOCAB - N_HIGH));
    int nucleus = (int)ceil(0.9 / ph);
    p.temperature = 1.0f;
    p.top_p = 0.9f;
    draw(&p, logits, nucleus, "top-p 0.9 over a flat 300-token head");
    p.top_p = 0.1f;
    draw(&p, logits, (int)ceil(0.1 / ph), "top-p 0.1 (one sorted head of 64)");
    p.top_p = 1.0f;
    p.top_k = 200;
    draw(&p, logits, 200, "top-k 200");
    p.top_k = 250;
    p.top_p = 0.5f;  /* of the 250 kept: 0.5 of their mass */
    draw(&p, logits, 125, "top-k 250 then top-p 0.5");
    p.top_k = 0;
    p.top_p = 0.9f;
    p.min_p = 0.5f;  /* every high id is at the max: min-p keeps the nucleus */
    draw(&p, logits, nucleus, "top-p 0.9 then min-p 0.5");
    free(logits);
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed != 0;
}
