/* shipped_fixture.h — the shipped model for the C tests that run on it (test_cancel,
 * test_jobs): its load, a session maker and a long prompt of pseudo-random ids. Included
 * after check.h by one test file each. */
#ifndef MLLM_SPEC_SHIPPED_FIXTURE_H
#define MLLM_SPEC_SHIPPED_FIXTURE_H

#include "mobilellm.h"

#include <stdio.h>
#include <stdlib.h>

#define MODEL "models/mobilellm-tiny-api"
#define LONG 480   /* prompt tokens of a long prefill (the model's context is 512) */

static mllm_model *model;
static int n_vocab;
static int32_t long_prompt[LONG];

/* Loads the model on n_threads and fills long_prompt; false (a TAP failure printed) when it
 * does not load. */
static int load_shipped(int n_threads)
{
    char err[MLLM_ERRLEN];
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = n_threads;
    if (mllm_model_load(MODEL, &mp, &model, err, sizeof err) != MLLM_OK) {
        printf("not ok 1 - load %s: %s\n1..1\n", MODEL, err);
        return 0;
    }
    n_vocab = mllm_model_config(model)->vocab_size;
    for (int i = 0; i < LONG; i++) long_prompt[i] = (int32_t)(3 + (i * 7919) % (n_vocab - 3));
    return 1;
}

/* A session of the model with batches of n_batch tokens; the test ends when it cannot be made. */
static mllm_session *new_session(int n_batch)
{
    char err[MLLM_ERRLEN];
    mllm_session_params sp = mllm_session_default_params();
    sp.n_batch = n_batch;
    mllm_session *s = NULL;
    if (mllm_session_new(model, &sp, &s, err, sizeof err) != MLLM_OK) {
        printf("# %s\n", err);
        exit(1);
    }
    return s;
}

#endif
