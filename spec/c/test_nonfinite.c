/* test_nonfinite.c — corrupt weights (NaN, infinity) through the C API
 * (issue 34, item 6): fixture models copied to a temporary directory with a
 * few bytes of one tensor overwritten. Generation and scoring stop with
 * MLLM_ERR_NUMERIC naming the position instead of printing id 0 or returning
 * nan; the sampler refuses NaN logits, and the generator names NaN a logits
 * hook left; check_weights names the tensor and the
 * first bad value, in every stored dtype (F32, F16, BF16, Q8_0 and Q4_0 block
 * scales), and finds nothing in the clean fixtures. Prints TAP-style lines;
 * exits non-zero when a check fails. */
#define _POSIX_C_SOURCE 200809L
#include "mobilellm.h"
#include "formats/safetensors.h"  /* to find where a tensor's bytes are in the file */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"

#define FIXTURES "spec/fixtures/models"

/* check() with the error message appended to what, to see why it failed */
static void check_err(int ok, const char *what, const char *err)
{
    char line[2 * MLLM_ERRLEN];
    snprintf(line, sizeof line, "%s (%s)", what, err);
    check(ok, line);
}

static char tmp_root[] = "/tmp/mllm-nonfinite-XXXXXX";

/* A copy of fixture `name` in the temporary directory, as dir. */
static int copy_fixture(const char *name, char *dir, size_t cap)
{
    char cmd[2048];
    snprintf(dir, cap, "%s/%s", tmp_root, name);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s/%s' '%s'", dir, FIXTURES, name, dir);
    return system(cmd) == 0;
}

/* Overwrites n bytes of tensor `name` of dir/model.safetensors, from byte `at`
 * of its data. */
static int patch_tensor(const char *dir, const char *name, size_t at, const void *bytes, size_t n)
{
    char path[512], err[MLLM_ERRLEN];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st_file f;
    if (st_open(path, &f, err, sizeof err) != MLLM_OK) return 0;
    const st_tensor *t = st_find(&f, name);
    long off = t && at + n <= t->nbytes ? (long)((const char *)t->data - (const char *)f.map) + (long)at : -1;
    st_close(&f);
    if (off < 0) return 0;
    FILE *fp = fopen(path, "r+b");
    if (!fp) return 0;
    int ok = fseek(fp, off, SEEK_SET) == 0 && fwrite(bytes, 1, n, fp) == n;
    return (fclose(fp) == 0) && ok;
}

static mllm_status load(const char *dir, bool check_weights, mllm_model **m, char *err, size_t errlen)
{
    mllm_model_params p = mllm_model_default_params();
    p.n_threads = 1;
    p.check_weights = check_weights;
    return mllm_model_load(dir, &p, m, err, errlen);
}

/* f32-untied-mobilellm: greedy continuation of its prompt, and the same with
 * NaN in the embedding row of the 4th greedy token (its lm_head is separate,
 * so the logits stay finite until that token is evaluated). */
static const int32_t prompt[] = { 129, 6, 123, 158, 194, 48, 46 };
static const int32_t greedy[] = { 153, 180, 60, 231, 71 };
#define UNTIED_DIM 48

static void nan_in_embedding(void)
{
    char dir[512], err[MLLM_ERRLEN];
    check(copy_fixture("f32-untied-mobilellm", dir, sizeof dir), "copied f32-untied-mobilellm");
    float nan5[5] = { NAN, NAN, NAN, NAN, NAN };
    check(patch_tensor(dir, "model.embed_tokens.weight", (231 * UNTIED_DIM + 3) * sizeof(float), nan5, sizeof nan5),
          "five NaN written into the embedding row of token 231");

    mllm_model *m = NULL;
    mllm_status st = load(dir, false, &m, err, sizeof err);
    check_err(st == MLLM_OK, "loads without the check", st ? err : "ok");
    if (st) return;
    mllm_session *s = NULL;
    st = mllm_session_new(m, NULL, &s, err, sizeof err);
    check(st == MLLM_OK, "session");
    if (st) { mllm_model_release(m); return; }

    /* generation: four good tokens, then the NaN logits of position 10 (token 231's) */
    mllm_generate_params gp = mllm_generate_default_params();
    gp.max_tokens = 20;
    gp.stop_at_eos = false;
    mllm_generator *g = NULL;
    st = mllm_generator_new(s, prompt, 7, &gp, &g, err, sizeof err);
    check(st == MLLM_OK, "generator");
    int32_t got[20];
    int n_got = 0;
    const char *piece;
    size_t len;
    int32_t id;
    while (g && n_got < 20 && (st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err)) == MLLM_OK)
        got[n_got++] = id;
    check(n_got == 4 && memcmp(got, greedy, 4 * sizeof *got) == 0, "the four tokens before the NaN are the greedy ones");
    check_err(st == MLLM_ERR_NUMERIC &&
                  strstr(err, "the model produced NaN logits at position 10 (token 5 of the generation): "
                              "its weights may be corrupt (load with check = true to find them)"),
              "generation stops with MLLM_ERR_NUMERIC naming the position", err);
    check(g && mllm_generator_info(g)->generated_tokens == 4, "the failed step counts no token");
    st = g ? mllm_generator_next(g, &piece, &len, &id, err, sizeof err) : MLLM_OK;
    check(st == MLLM_ERR_NUMERIC && id == -1, "and keeps failing, never a token");
    mllm_generator_free(g);

    /* score: the same position, instead of nan */
    double lp[5];
    st = mllm_session_rewind(s, 0);
    if (!st) st = mllm_session_eval(s, prompt, 7, err, sizeof err);
    if (!st) st = mllm_session_score(s, greedy, 4, lp, err, sizeof err);
    check(st == MLLM_OK && isfinite(lp[0] + lp[1] + lp[2] + lp[3]), "the tokens up to the NaN score finite");
    st = mllm_session_rewind(s, 0);
    if (!st) st = mllm_session_eval(s, prompt, 7, err, sizeof err);
    if (!st) st = mllm_session_score(s, greedy, 5, lp, err, sizeof err);
    check_err(st == MLLM_ERR_NUMERIC && strstr(err, "the model produced NaN logits at position 10 (scoring token 5 of 5)"),
              "score fails with MLLM_ERR_NUMERIC naming the position", err);
    check(mllm_session_pos(s) == 11, "the tokens scored before stay in the session");
    /* plain eval leaves the logits raw */
    const float *lg = mllm_session_logits(s);
    check(lg && isnan(lg[0]), "eval's logits are raw (NaN)");
    mllm_session_free(s);
    mllm_model_release(m);

    /* the check names the tensor and the first bad value */
    m = (mllm_model *)1;
    st = load(dir, true, &m, err, sizeof err);
    check_err(st == MLLM_ERR_TENSOR && m == NULL &&
                  strstr(err, "/model.safetensors: tensor 'model.embed_tokens.weight' holds NaN at index 11091 "
                              "(row 231, column 3): the checkpoint is corrupt"),
              "check_weights names the tensor and the index", err);
}

/* The sampler never turns NaN into id 0: greedy and sampled. */
static void sampler_refuses_nan(void)
{
    char err[MLLM_ERRLEN];
    float logits[8] = { 0.5f, 1.0f, 2.0f, -1.0f, 0.0f, 3.0f, 1.5f, -2.0f };
    for (int temp = 0; temp < 2; temp++) {
        mllm_sampler_params p = mllm_sampler_default_params();
        p.temperature = temp ? 0.8f : 0.0f;
        mllm_sampler *sm = NULL;
        if (mllm_sampler_new(&p, 8, &sm, err, sizeof err) != MLLM_OK) {
            check(0, "sampler");
            continue;
        }
        float v[8];
        memcpy(v, logits, sizeof v);
        int32_t clean = mllm_sampler_sample(sm, v, NULL, 0);
        v[0] = NAN;  /* where the old argmax started */
        int32_t first = mllm_sampler_sample(sm, v, NULL, 0);
        memcpy(v, logits, sizeof v);
        v[7] = NAN;
        int32_t last = mllm_sampler_sample(sm, v, NULL, 0);
        for (int i = 0; i < 8; i++) v[i] = NAN;
        int32_t all = mllm_sampler_sample(sm, v, NULL, 0);
        char what[96];
        snprintf(what, sizeof what, "temperature %s: -1 for NaN logits (first, last, all), a token otherwise",
                 temp ? "0.8" : "0");
        check(clean >= 0 && (temp || clean == 5) && first == -1 && last == -1 && all == -1, what);
        mllm_sampler_free(sm);
    }
}

/* A logits hook that writes NaN over the logit of token 5 */
static void nan_hook(void *ud, float *logits, int n_vocab, const char *text, size_t len)
{
    (void)ud, (void)text, (void)len;
    if (n_vocab > 5) logits[5] = NAN;
}

/* NaN the hook puts into good logits is named as the hook's. */
static void hook_leaves_nan(void)
{
    char err[MLLM_ERRLEN];
    mllm_model *m = NULL;
    mllm_session *s = NULL;
    mllm_generator *g = NULL;
    mllm_status st = load(FIXTURES "/f32-basic", false, &m, err, sizeof err);
    if (!st) st = mllm_session_new(m, NULL, &s, err, sizeof err);
    mllm_generate_params gp = mllm_generate_default_params();
    gp.logits_hook = nan_hook;
    static const int32_t basic_prompt[] = { 241, 83, 117, 139, 34, 215, 47 };
    if (!st) st = mllm_generator_new(s, basic_prompt, 7, &gp, &g, err, sizeof err);
    const char *piece;
    size_t len;
    int32_t id;
    if (!st) st = mllm_generator_next(g, &piece, &len, &id, err, sizeof err);
    check_err(st == MLLM_ERR_NUMERIC &&
                  strcmp(err, "the logits hook left NaN in the logits at position 6 (token 1 of the generation)") == 0,
              "NaN left by the logits hook is an error that says so", err);
    mllm_generator_free(g);
    mllm_session_free(s);
    mllm_model_release(m);
}

/* Infinity in F16 and BF16 tensors; NaN block scales in Q8_0 and Q4_0. */
static void check_each_dtype(void)
{
    char dir[512], err[MLLM_ERRLEN];
    mllm_model *m = NULL;
    mllm_status st;

    check(copy_fixture("f16-gqa3", dir, sizeof dir), "copied f16-gqa3");
    uint16_t f16_inf = 0x7c00;  /* +Inf */
    check(patch_tensor(dir, "model.layers.1.mlp.down_proj.weight", 2 * 165, &f16_inf, 2), "+Inf written (F16)");
    st = load(dir, true, &m, err, sizeof err);
    check_err(st == MLLM_ERR_TENSOR && strstr(err, "tensor 'model.layers.1.mlp.down_proj.weight' holds +Inf at "
                                                   "index 165 (row 1, column 5)"),
              "F16: +Inf named", err);

    check(copy_fixture("bf16-headdim", dir, sizeof dir), "copied bf16-headdim");
    uint16_t bf16_minus_inf = 0xff80;  /* -Inf */
    check(patch_tensor(dir, "model.norm.weight", 2 * 3, &bf16_minus_inf, 2), "-Inf written (BF16)");
    st = load(dir, true, &m, err, sizeof err);
    check_err(st == MLLM_ERR_TENSOR && strstr(err, "tensor 'model.norm.weight' holds -Inf at index 3: "),
              "BF16: -Inf in a vector named", err);
    check(copy_fixture("bf16-headdim", dir, sizeof dir), "copied bf16-headdim again");
    uint16_t bf16_nan = 0x7fc1;
    check(patch_tensor(dir, "model.embed_tokens.weight", 2 * 5000, &bf16_nan, 2), "NaN written (BF16, 5th chunk)");
    st = load(dir, true, &m, err, sizeof err);
    check_err(st == MLLM_ERR_TENSOR && strstr(err, "tensor 'model.embed_tokens.weight' holds NaN at index 5000 "
                                                   "(row 78, column 8)"),
              "BF16: NaN far into a matrix named", err);

    /* Q8_0 and Q4_0 checkpoints of f32-basic written by mllm_model_save; q_proj is
     * [64, 64]: two blocks a row, block 5 holds values 160..191 (row 2, from column 32).
     * Where the kernels take 8 rows interleaved (all but NEON's) the file holds them so
     * (Q8_0x8/Q4_0x8): that block's scale is lane 2 of the group's struct 1. */
    static const char *const qtypes[] = { "q8", "q4" };
    for (int q = 0; q < 2; q++) {
        char name[32], what[128];
        snprintf(name, sizeof name, "f32-basic-%s", qtypes[q]);
        check(copy_fixture("f32-basic", dir, sizeof dir), "copied f32-basic");
        mllm_model_params p = mllm_model_default_params();
        p.n_threads = 1;
        p.dtype = qtypes[q];
        char path[600], saved[600];
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        snprintf(saved, sizeof saved, "%s/quantized.safetensors", dir);  /* not over the mapped file */
        st = mllm_model_load(dir, &p, &m, err, sizeof err);
        bool rows8 = !st && strcmp(mllm_model_kernels(m), "neon") != 0;
        if (!st) {
            st = mllm_model_save(m, saved, err, sizeof err);
            mllm_model_release(m);
        }
        if (!st && rename(saved, path) != 0) st = MLLM_ERR_IO;
        m = NULL;
        snprintf(what, sizeof what, "%s: saved quantized", qtypes[q]);
        check_err(st == MLLM_OK, what, st ? err : "ok");
        st = load(dir, true, &m, err, sizeof err);
        snprintf(what, sizeof what, "%s: a clean quantized checkpoint passes the check", qtypes[q]);
        check_err(st == MLLM_OK, what, st ? err : "ok");
        mllm_model_release(m);
        m = NULL;
        uint16_t f16_nan = 0x7e00;
        size_t block = q == 0 ? 34 : 18;
        snprintf(what, sizeof what, "%s: NaN written into the scale of block 5", qtypes[q]);
        size_t scale_at = rows8 ? 1 * 8 * block + 2 * 2 : 5 * block;
        check(patch_tensor(dir, "model.layers.0.self_attn.q_proj.weight", scale_at, &f16_nan, 2), what);
        st = load(dir, true, &m, err, sizeof err);
        snprintf(what, sizeof what, "%s: the NaN block scale named", qtypes[q]);
        check_err(st == MLLM_ERR_TENSOR && strstr(err, "tensor 'model.layers.0.self_attn.q_proj.weight' has a NaN "
                                                       "block scale at block 5 (values 160..191, from row 2, column 32)"),
                  what, err);
    }
}

/* No false alarm: every clean fixture passes, and the check changes nothing. */
static void clean_fixtures_pass(void)
{
    static const char *const names[] = { "f32-basic", "f32-ls", "f16-gqa3", "bf16-headdim", "f32-sharded",
                                          "f32-untied-mobilellm", "bf16-vocab32k" };
    char dir[512], err[MLLM_ERRLEN], what[MLLM_ERRLEN + 64];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", FIXTURES, names[i]);
        mllm_model *a = NULL, *b = NULL;
        mllm_status st = load(dir, true, &a, err, sizeof err);
        if (!st) st = load(dir, false, &b, err, sizeof err);
        snprintf(what, sizeof what, "%s passes the check (%s)", names[i], st ? err : "ok");
        check(st == MLLM_OK && mllm_model_fingerprint(a) == mllm_model_fingerprint(b), what);
        mllm_model_release(a);
        mllm_model_release(b);
    }
    check(strcmp(mllm_status_name(MLLM_ERR_NUMERIC), "numeric") == 0, "MLLM_ERR_NUMERIC is named \"numeric\"");
    check(strcmp(mllm_status_name(MLLM_DONE), "done") == 0 && strcmp(mllm_status_name(MLLM_CANCELLED), "cancelled") == 0 &&
              strcmp(mllm_status_name((mllm_status)42), "?") == 0,
          "the outcomes apart from failures have their names, an unknown status \"?\"");
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 1;
    }
    nan_in_embedding();
    sampler_refuses_nan();
    hook_leaves_nan();
    check_each_dtype();
    clean_fixtures_pass();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    check(system(cmd) == 0, "cleanup");
    printf("1..%d\n", n_checks);
    if (n_failed) printf("# %d of %d checks failed\n", n_failed, n_checks);
    return n_failed ? 1 : 0;
}
