/* test_rope_tables.c — the RoPE tables a model shares with its sessions (rope.c): a load
 * makes them for the first positions, sessions and forks point into them instead of computing
 * their own, a session longer than the table grows it (a new table; the old one stays valid
 * for the sessions that use it), and every angle is cos/sin(pos * theta^(-2i/head_dim)) as
 * Hugging Face computes it; threads that make long sessions at once grow it once, while
 * sessions on the old table go on (also run under ThreadSanitizer). The model is a copy of spec/fixtures/models/f32-basic whose
 * config allows 8192 positions. Prints TAP-style lines. */
#define _XOPEN_SOURCE 700
#include "core/internal.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define FIXTURE "spec/fixtures/models/f32-basic"
#define LONG_CTX 8192

/* The fixture with max_position_embeddings set to LONG_CTX, in a fresh directory. */
static int make_long_model(char *dir, size_t n)
{
    snprintf(dir, n, "/tmp/mllm-rope-XXXXXX");
    if (!mkdtemp(dir)) return 0;
    char src[512], dst[512];
    FILE *in = fopen(FIXTURE "/config.json", "rb");
    if (!in) return 0;
    static char cfg[1 << 16];
    size_t len = fread(cfg, 1, sizeof cfg - 1, in);
    fclose(in);
    cfg[len] = 0;
    char *at = strstr(cfg, "\"max_position_embeddings\": 2048");
    if (!at) return 0;
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    FILE *out = fopen(dst, "wb");
    if (!out) return 0;
    fwrite(cfg, 1, (size_t)(at - cfg), out);
    fprintf(out, "\"max_position_embeddings\": %d", LONG_CTX);
    fputs(at + strlen("\"max_position_embeddings\": 2048"), out);
    fclose(out);
    if (!realpath(FIXTURE "/model.safetensors", src)) return 0;
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    return symlink(src, dst) == 0;
}

/* The largest difference from HF's angles over positions [from, to) of a table. */
static double angle_error(const mllm_config *c, const float *cs, const float *sn, int from, int to)
{
    int half = c->head_dim / 2;
    double worst = 0;
    for (int pos = from; pos < to; pos++)
        for (int i = 0; i < half; i++) {
            double a = pos * mllm_config_inv_freq(c, i);
            double e1 = fabs(cs[(size_t)pos * half + i] - (float)cos(a));
            double e2 = fabs(sn[(size_t)pos * half + i] - (float)sin(a));
            if (e1 > worst) worst = e1;
            if (e2 > worst) worst = e2;
        }
    return worst;
}

/* A thread that makes a long session of the shared model and evaluates a token on it. */
typedef struct {
    mllm_model *m;
    mllm_session *s;
    int ok;
} long_session_job;

static mllm_session *session(mllm_model *m, int n_ctx)
{
    char err[MLLM_ERRLEN];
    mllm_session_params p = mllm_session_default_params();
    p.n_ctx = n_ctx;
    mllm_session *s = NULL;
    if (mllm_session_new(m, &p, &s, err, sizeof err) != MLLM_OK) printf("# %s\n", err);
    return s;
}

static void *make_long_session(void *arg)
{
    long_session_job *j = arg;
    char err[MLLM_ERRLEN];
    int32_t id = 5;
    j->s = session(j->m, LONG_CTX);
    j->ok = j->s && mllm_session_eval(j->s, &id, 1, err, sizeof err) == MLLM_OK;
    return NULL;
}

int main(void)
{
    char dir[64], err[MLLM_ERRLEN];
    if (!make_long_model(dir, sizeof dir)) {
        printf("not ok 1 - a copy of %s with %d positions\n", FIXTURE, LONG_CTX);
        return 1;
    }
    mllm_model_params mp = mllm_model_default_params();
    mp.n_threads = 1;
    mllm_model *m = NULL;
    if (mllm_model_load(dir, &mp, &m, err, sizeof err) != MLLM_OK) {
        printf("not ok 1 - load: %s\n", err);
        return 1;
    }
    const mllm_config *c = &m->cfg;
    check(m->rope && m->rope->n_pos == 4096, "a load makes the table of the first 4096 positions");
    const float *load_cos = m->rope->cos;
    mllm_session *a = session(m, 1000), *b = session(m, 4096);
    check(a && b && a->rope_cos == load_cos && b->rope_cos == load_cos,
          "sessions within the loaded positions use the model's table");
    check(angle_error(c, a->rope_cos, a->rope_sin, 0, 4096) == 0, "its angles are Hugging Face's, to the float");

    int32_t ids[8] = { 1, 5, 9, 2, 7, 3, 4, 6 };
    check(mllm_session_eval(a, ids, 8, err, sizeof err) == MLLM_OK, "a short session evaluates");
    mllm_session *f = NULL;
    check(mllm_session_fork(a, &f, err, sizeof err) == MLLM_OK && f->rope_cos == load_cos,
          "a fork uses the same table");

    /* four threads want the long table at once while the short sessions go on */
    long_session_job jobs[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (long_session_job){ m, NULL, 0 };
        pthread_create(&threads[i], NULL, make_long_session, &jobs[i]);
    }
    int32_t more0[2] = { 11, 12 };
    int short_ok = mllm_session_eval(f, more0, 2, err, sizeof err) == MLLM_OK;
    for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
    int same = 1;
    for (int i = 0; i < 4; i++) same = same && jobs[i].ok && jobs[i].s->rope_cos == jobs[0].s->rope_cos;
    check(same && short_ok && jobs[0].s->rope_cos != load_cos && m->rope->older && !m->rope->older->older,
          "four threads making long sessions at once grow the table once, while a fork evaluates");
    for (int i = 0; i < 4; i++) mllm_session_free(jobs[i].s);
    mllm_session_rewind(f, mllm_session_pos(f) - 2);

    mllm_session *big = session(m, LONG_CTX);
    check(big && big->rope_cos != load_cos && m->rope->cos == big->rope_cos, "a longer session uses the grown table");
    check(big && angle_error(c, big->rope_cos, big->rope_sin, 0, LONG_CTX) == 0,
          "the grown table's angles are Hugging Face's for all 8192 positions");
    /* the sessions made before still read the old table: it must still be there (ASan) */
    int32_t more[2] = { 8, 10 };
    check(mllm_session_eval(a, more, 2, err, sizeof err) == MLLM_OK &&
          mllm_session_eval(f, more, 2, err, sizeof err) == MLLM_OK &&
          memcmp(a->logits, f->logits, (size_t)c->vocab_size * sizeof(float)) == 0,
          "the sessions on the old table go on, and the fork still matches its origin");
    mllm_session *c2 = session(m, 2000);
    check(c2 && c2->rope_cos == big->rope_cos, "a later session uses the longest table");

    mllm_session_free(a);
    mllm_session_free(f);
    mllm_session_free(big);
    mllm_session_free(c2);
    mllm_session_free(b);
    mllm_model_release(m);
    char path[128];
    snprintf(path, sizeof path, "%s/config.json", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    unlink(path);
    rmdir(dir);
    printf("1..%d\n", n_checks);
    return n_failed ? 1 : 0;
}
