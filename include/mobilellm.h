/*
 * mobilellm.h — the public C API of mobilellm (no Lua needed).
 *
 * Objects (opaque handles, named mllm_<object>_<verb>):
 *   mllm_model     immutable weights + tokenizer, reference counted, shareable
 *                  between sessions and threads once loaded.
 *   mllm_session   one conversation: a KV cache and a position. Not thread-safe;
 *                  use one session per thread (sessions of one model may run in
 *                  parallel on different threads).
 *   mllm_sampler   turns logits into a token id (greedy, temperature, top-k,
 *                  top-p, min-p, repetition penalty, seeded RNG).
 *   mllm_generator drives a session token by token, producing UTF-8 safe text
 *                  pieces and honouring stop strings, EOS and max_tokens.
 *   mllm_job       a generation run by time budget (mllm_job_step) or on a
 *                  worker thread of its own (mllm_job_poll), cancellable.
 *
 * Every function that can fail returns an mllm_status (MLLM_OK == 0) and, when
 * given an error buffer, writes a one-line message that names what is wrong
 * (the file, the tensor, the option).
 *
 * Threads (spec/c/test_threads.c runs sessions of one model in several
 * pthreads at once and checks each gets the single-threaded logits):
 *   - Safe from any thread at any time, on shared objects: mllm_model_retain
 *     and mllm_model_release (atomic count; a thread must hold its reference
 *     before it starts using the model), every const getter of a loaded model
 *     (mllm_model_config, _tokenizer, _n_params, _fingerprint, ...),
 *     mllm_session_new / mllm_session_fork of sessions on one model, and the
 *     tokenizer calls (mllm_tokenizer_encode, _decode, _piece, _vocab_size):
 *     a loaded model and its tokenizer are never written again.
 *   - One thread at a time per object (no locks inside: the caller serializes):
 *     everything taking a non-const mllm_session, mllm_sampler or
 *     mllm_generator (eval, rewind, restore, sample, generator_next, ...).
 *     Different sessions may run in parallel; a generator uses its session,
 *     so the two belong to one thread together. mllm_session_fork and _save
 *     read their source session: not while another thread evaluates it.
 *   - mllm_model_load, mllm_tokenizer_load and mllm_checkpoint_convert share
 *     nothing between calls and may run in parallel on different paths.
 *   - mllm_session_cancel may be called from any thread and from a signal
 *     handler, at any time while the session exists (a lock-free atomic store).
 *   - Freeing (mllm_session_free, mllm_generator_free, mllm_sampler_free,
 *     mllm_tokenizer_free, the last mllm_model_release) must not race with
 *     any other use of the same object.
 * Each session may also run a pool of worker threads of its own
 * (mllm_model_params.n_threads); they never outlive mllm_session_free.
 */
#ifndef MOBILELLM_H
#define MOBILELLM_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLLM_VERSION "0.1.0"

/* Marks the public API: the library is built with -fvisibility=hidden, so it
 * exports these and nothing else (spec/86-symbols_spec.lua checks the list). */
#ifndef MLLM_API
#if defined(__GNUC__)
#define MLLM_API __attribute__((visibility("default")))
#else
#define MLLM_API
#endif
#endif

/* Every bound (MLLM_MAX_*, MLLM_ERRLEN) is in one header. */
#include "mobilellm_limits.h"

typedef enum mllm_status {
    MLLM_OK = 0,
    MLLM_ERR_IO = 1,        /* a file is missing or unreadable */
    MLLM_ERR_FORMAT = 2,    /* a file is corrupt: bad JSON, header, truncated data */
    MLLM_ERR_CONFIG = 3,    /* config.json values are missing or inconsistent */
    MLLM_ERR_TENSOR = 4,    /* a tensor is missing or has the wrong shape/dtype */
    MLLM_ERR_NOMEM = 5,     /* allocation failed */
    MLLM_ERR_ARG = 6,       /* a caller passed an invalid argument */
    MLLM_ERR_CONTEXT = 7,   /* the tokens do not fit the session's context */
    MLLM_ERR_TOKENIZER = 8, /* no tokenizer, or the tokenizer failed */
    MLLM_ERR_NUMERIC = 9,   /* the model computed NaN or infinity (corrupt weights) */
    /* Outcomes that are not failures, apart from them (as SQLite's SQLITE_DONE): */
    MLLM_DONE = 100,        /* mllm_generator_next: generation has ended */
    MLLM_CANCELLED = 101    /* a progress callback returned false (load, save), or
                               mllm_session_cancel / mllm_job_cancel stopped a computation */
} mllm_status;

/* Storage type of weights as read from the checkpoint. Q8_0 and Q4_0 are the
 * project's own pre-quantized formats (safetensors dtypes "Q8_0" and "Q4_0",
 * written by mllm_model_save): rows of 32-value blocks, see docs/formats-and-limits.md. */
typedef enum mllm_dtype { MLLM_F32 = 0, MLLM_F16 = 1, MLLM_BF16 = 2, MLLM_Q8_0 = 3, MLLM_Q4_0 = 4 } mllm_dtype;

MLLM_API const char *mllm_dtype_name(mllm_dtype t);
MLLM_API const char *mllm_status_name(mllm_status s);

/* ---------------------------------------------------------------- model */

typedef struct mllm_config {
    char model_type[32];   /* "mobilellm", "llama" or "llama4_text" */
    int n_layers;          /* stored blocks */
    int n_exec_layers;     /* executed blocks: 2 * n_layers with layer sharing */
    int dim;               /* hidden_size */
    int n_heads;           /* num_attention_heads */
    int n_kv_heads;        /* num_key_value_heads */
    int head_dim;          /* head_dim, or dim / n_heads */
    int ffn_dim;           /* intermediate_size (llama4_text: intermediate_size_mlp) */
    int vocab_size;
    int max_seq_len;       /* max_position_embeddings */
    int bos_id, eos_id;    /* eos_id: the first of eos_ids */
    int n_eos;             /* generation stops at any of eos_ids[0 .. n_eos - 1] */
    int eos_ids[MLLM_MAX_EOS_IDS];
    float rope_theta;
    /* rope_scaling {"rope_type": "llama3"} (Llama 3.1/3.2): rope_factor 0 = none; else each
     * frequency whose wavelength exceeds original_max_position_embeddings / low_freq_factor
     * is divided by factor, those under ... / high_freq_factor kept, those between blended */
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_pos;
    float norm_eps;        /* rms_norm_eps */
    bool layer_sharing;    /* MobileLLM-LS: every block runs twice in a row */
    bool share_embedding;  /* output head is the input embedding */
    mllm_dtype dtype;      /* dtype of the stored weights (of the embedding) */
    /* llama4_text (all false / 0 for "mobilellm" and "llama"): */
    bool rope_pairs;       /* RoPE rotates adjacent pairs (2i, 2i + 1), not the two halves */
    bool qk_norm;          /* use_qk_norm: q and k of RoPE layers RMS-normalised per head, no weight */
    bool temperature_tuning; /* attn_temperature_tuning: NoPE layers scale q by position */
    float floor_scale, attn_scale; /* q *= log(floor((pos + 1) / floor_scale) + 1) * attn_scale + 1 */
    int attention_chunk_size;      /* keys a chunked layer's query sees: its own chunk of this size */
    bool layer_nope[MLLM_MAX_LAYERS];    /* no_rope_layers[l] == 0: no RoPE, no QK-norm */
    bool layer_chunked[MLLM_MAX_LAYERS]; /* layer_types[l] == "chunked_attention" */
} mllm_config;

typedef struct mllm_model mllm_model;

typedef struct mllm_model_params {
    int n_threads;               /* 0 = number of online cores */
    const char *tokenizer_path;  /* NULL = <dir>/tokenizer.model, else <dir>/tokenizer.json, if present */
    bool require_tokenizer;      /* fail when neither is found */
    const char *dtype;           /* compute format of the matrices: NULL or "auto" = as
                                    stored; "f32", "f16", "bf16", "q8" or "q4" (quantized
                                    on load, 32 weights per block with a scale) */
    /* Called as loading proceeds with the fraction done (0..1); returning
     * false cancels the load (mllm_model_load then returns MLLM_CANCELLED
     * and "loading cancelled"). NULL = none. */
    bool (*progress)(float fraction, void *ud);
    void *progress_ud;
    /* Reads every value of every tensor of the checkpoint (the block scales of
     * Q8_0 and Q4_0) before converting any, and fails with MLLM_ERR_TENSOR at
     * the first NaN or infinity, naming the file, the tensor and the index.
     * Costs one pass over the files: 0.13 s for a 125M model in F32, 0.03-0.06 s
     * in BF16 or Q8_0, from the page cache (docs/performance.md). */
    bool check_weights;
} mllm_model_params;

MLLM_API mllm_model_params mllm_model_default_params(void);

/* Loads a Hugging Face style directory: config.json, model.safetensors (or the
 * shards named by model.safetensors.index.json) and tokenizer.model. F32 weights
 * are used straight from the memory-mapped file; F16/BF16 are widened to F32.
 * On success *out holds a model with one reference. */
MLLM_API mllm_status mllm_model_load(const char *dir, const mllm_model_params *params,
                            mllm_model **out, char *err, size_t errlen);
MLLM_API mllm_model *mllm_model_retain(mllm_model *m);
MLLM_API void mllm_model_release(mllm_model *m);     /* frees at the last reference */
MLLM_API const mllm_config *mllm_model_config(const mllm_model *m);
MLLM_API size_t mllm_model_n_params(const mllm_model *m);   /* stored parameters */
MLLM_API size_t mllm_model_weight_bytes(const mllm_model *m); /* bytes of weights in memory (mapped + owned) */
MLLM_API size_t mllm_model_mapped_bytes(const mllm_model *m); /* of those, mapped from the files as stored (no copy) */
MLLM_API int mllm_model_n_threads(const mllm_model *m);
/* Writes the model's weights as they are in memory — matrices in the compute
 * format (so a quantized model is saved quantized and loads without
 * re-quantizing), norms in F32 — to a safetensors file with the Hugging Face
 * tensor names. config.json and tokenizer.model are the caller's to copy.
 * The file is written beside path, synced and renamed over it: path may be
 * the file this model is mapped from (the model keeps its old mapping), and
 * a failure (MLLM_ERR_IO naming path: a missing directory, a full disk, a
 * directory or FIFO at path) leaves what was at path untouched. A symlink at
 * path is written through: its target is replaced, the link stays. */
MLLM_API mllm_status mllm_model_save(const mllm_model *m, const char *path, char *err, size_t errlen);
/* mllm_model_save with a progress callback, called with the fraction of bytes
 * written (0..1) as the file is written; returning false cancels: the partial
 * file is removed (the old one stays) and the call returns MLLM_CANCELLED
 * and "saving cancelled". progress may be NULL. */
MLLM_API mllm_status mllm_model_save_progress(const mllm_model *m, const char *path,
                                     bool (*progress)(float fraction, void *ud), void *ud,
                                     char *err, size_t errlen);
/* Compute format of the matrices ("f32", "f16", "bf16", "q8", "q4") and the
 * kernel set chosen for this CPU ("avx512", "avx2", "neon", "scalar"). */
MLLM_API const char *mllm_model_compute_type(const mllm_model *m);
MLLM_API const char *mllm_model_kernels(const mllm_model *m);

/* ------------------------------------------------------------ tokenizer */

/* A tokenizer: sentencepiece (tokenizer.model) or Hugging Face BPE
 * (tokenizer.json, run in C). Immutable once loaded: safe to use from several
 * threads. A model owns one when its directory has one (tokenizer.model first). */
typedef struct mllm_tokenizer mllm_tokenizer;

/* Loads a tokenizer.model or a tokenizer.json (told apart by content) from path, a
 * regular file of at most MLLM_MAX_TOKENIZER_BYTES: MLLM_ERR_IO when it cannot be
 * opened or is not a regular file (a FIFO, a device), MLLM_ERR_FORMAT when it is
 * larger, MLLM_ERR_TOKENIZER when it is neither a sentencepiece model nor a
 * tokenizer.json this engine runs (the message names what is wrong). */
MLLM_API mllm_status mllm_tokenizer_load(const char *path, mllm_tokenizer **out, char *err, size_t errlen);
MLLM_API void mllm_tokenizer_free(mllm_tokenizer *t);
/* The ids the tokenizer takes: its pieces, or for a model's tokenizer the
 * model's vocab_size, which may be larger (a vocabulary padded for the
 * matrices' sake). The ids past the pieces have no text: decode and piece
 * give nothing for them, as the generator does. */
MLLM_API int mllm_tokenizer_vocab_size(const mllm_tokenizer *t);
/* The tokenizer's own ids (<= mllm_tokenizer_vocab_size). */
MLLM_API int mllm_tokenizer_n_pieces(const mllm_tokenizer *t);
MLLM_API int mllm_tokenizer_bos(const mllm_tokenizer *t);
MLLM_API int mllm_tokenizer_eos(const mllm_tokenizer *t);
/* The model's tokenizer, or NULL; valid as long as the model is. Its
 * vocab_size is the model's. */
MLLM_API const mllm_tokenizer *mllm_model_tokenizer(const mllm_model *m);

/* Encodes UTF-8 text (not NUL-terminated; invalid UTF-8 is MLLM_ERR_ARG) as
 * sentencepiece or Hugging Face's tokenizers do; add_bos: BOS, or for a
 * tokenizer.json its TemplateProcessing tokens. *ids is malloc'd; free it with free(). */
MLLM_API mllm_status mllm_tokenizer_encode(const mllm_tokenizer *t, const char *text, size_t len, bool add_bos,
                                  int32_t **ids, size_t *n_ids, char *err, size_t errlen);
/* Decodes ids as sentencepiece does (control tokens and padding ids vanish), or
 * as Hugging Face's decode(ids) does (special tokens give their text); an
 * id outside [0, vocab_size) is MLLM_ERR_ARG. *text is malloc'd and NUL-terminated. */
MLLM_API mllm_status mllm_tokenizer_decode(const mllm_tokenizer *t, const int32_t *ids, size_t n_ids,
                                  char **text, size_t *len, char *err, size_t errlen);
/* The bytes one token stands for in running text ("▁" becomes a space, byte
 * tokens their byte, byte-level BPE tokens their bytes, control and special
 * tokens and padding ids nothing). Returns the byte
 * count (which may exceed cap: then nothing is written past cap), or -1 for an
 * id outside [0, vocab_size). */
MLLM_API int mllm_tokenizer_piece(const mllm_tokenizer *t, int32_t id, char *buf, size_t cap);
/* The file format the tokenizer was read from: "tokenizer.model" (sentencepiece) or
 * "tokenizer.json" (Hugging Face). */
MLLM_API const char *mllm_tokenizer_format(const mllm_tokenizer *t);

/* -------------------------------------------------------------- session */

typedef struct mllm_session mllm_session;

typedef struct mllm_session_params {
    int n_ctx;        /* context length; 0 = the model's max_seq_len */
    int n_batch;      /* tokens per prefill chunk; 0 = 64 */
    const char *kv_type;  /* element of the KV cache: "f32" (exact), "f16" (half
                             the memory and the bytes attention reads per token;
                             keys and values rounded to f16), or NULL / "auto":
                             f16 for q8/q4 weights, f32 for float weights */
} mllm_session_params;

MLLM_API mllm_session_params mllm_session_default_params(void);
/* "f32" or "f16" */
MLLM_API const char *mllm_session_kv_type(const mllm_session *s);
/* A session retains its model. */
MLLM_API mllm_status mllm_session_new(mllm_model *m, const mllm_session_params *params,
                             mllm_session **out, char *err, size_t errlen);
MLLM_API void mllm_session_free(mllm_session *s);
/* Feeds n tokens at the current position (batched prefill for n > 1) and
 * leaves the logits of the last one. MLLM_ERR_CONTEXT if they do not fit,
 * MLLM_ERR_ARG for an id outside the vocabulary; the session is unchanged then.
 * MLLM_CANCELLED when mllm_session_cancel stopped it: the session then holds the
 * tokens of the chunks (n_batch each) evaluated in full before the cancel, and
 * the logits of the last of them (the chunk being evaluated is rolled back). */
MLLM_API mllm_status mllm_session_eval(mllm_session *s, const int32_t *ids, size_t n,
                              char *err, size_t errlen);
MLLM_API const float *mllm_session_logits(const mllm_session *s);  /* NULL before any eval */
/* Scores n tokens as the continuation of what the session holds: logprobs[i]
 * = log p(ids[i] | everything before it), from the model's full softmax. The
 * tokens are then in the session, as after eval. Needs logits (an earlier eval):
 * MLLM_ERR_ARG without them or for an id outside the vocabulary,
 * MLLM_ERR_CONTEXT if they do not fit; the session is unchanged then.
 * MLLM_ERR_NUMERIC when the logits a token is scored with hold NaN or infinity
 * (the message names the position); the tokens before it stay in the session. */
MLLM_API mllm_status mllm_session_score(mllm_session *s, const int32_t *ids, size_t n, double *logprobs,
                               char *err, size_t errlen);
MLLM_API int mllm_session_pos(const mllm_session *s);
MLLM_API int mllm_session_n_ctx(const mllm_session *s);
/* Bytes of memory the session allocated (KV cache and scratch): what a host's
 * garbage collector should count it as. */
MLLM_API size_t mllm_session_bytes(const mllm_session *s);
MLLM_API const mllm_model *mllm_session_model(const mllm_session *s);
/* Forgets everything from position pos on (0 = a fresh session).
 * MLLM_ERR_ARG for pos out of [0, pos()] or while a job runs on the session. */
MLLM_API mllm_status mllm_session_rewind(mllm_session *s, int pos);

/* Cancellation. mllm_session_cancel asks the computation running on the session
 * to stop: from any thread or from a signal handler (one lock-free atomic
 * store, no lock, no allocation). The forward pass looks at the request before
 * each layer (so also between the chunks of a prefill), on the thread that runs
 * it: a cancel acts within one layer's time.
 *   - The request applies to the operation running when it is made or, when
 *     none runs, to the next one: mllm_session_eval, _score, mllm_generator_new
 *     (its prefill), mllm_generator_next, and the job running on the session.
 *   - That operation returns MLLM_CANCELLED with a message saying how far it
 *     got, and takes the request (the flag is clear again). The session stays
 *     usable: its position is the last fully evaluated token (a half-evaluated
 *     batch is rolled back), its logits that token's, so it can be continued,
 *     rewound or saved. A generator that returned MLLM_CANCELLED has ended: the
 *     next mllm_generator_next hands out any held-back text, then MLLM_DONE; its
 *     info's stop reason is MLLM_STOP_CANCELLED.
 *   - mllm_session_clear_cancel drops a request nothing took (a Ctrl-C pressed
 *     after the answer ended, that must not cancel the next one); a host calls
 *     it before starting an operation it wants unaffected by earlier requests.
 *   - mllm_session_rewind, _fork, _save and _restore do not look at the flag. */
MLLM_API void mllm_session_cancel(mllm_session *s);
MLLM_API void mllm_session_clear_cancel(mllm_session *s);
/* Whether a cancel request waits to be taken (any thread). */
MLLM_API bool mllm_session_cancel_pending(const mllm_session *s);
/* A new session with the same context size, KV state, position and logits:
 * compute a long shared prefix (a system prompt) once, then fork per request. */
MLLM_API mllm_status mllm_session_fork(const mllm_session *s, mllm_session **out, char *err, size_t errlen);
/* Writes the session's state (KV cache up to pos, logits) to a file, tagged
 * with the model's fingerprint and ending in an XXH3-64 checksum of all of
 * it. Replaces path atomically, as mllm_model_save: a failure leaves the old
 * file. MLLM_ERR_IO naming path. */
MLLM_API mllm_status mllm_session_save(const mllm_session *s, const char *path, char *err, size_t errlen);
/* Loads a state written by mllm_session_save into s (which must be fresh or
 * is reset; a failure leaves it at position 0). MLLM_ERR_IO for a path that
 * is missing or not a regular file (a FIFO is refused without blocking);
 * MLLM_ERR_FORMAT for a file made for another model (another fingerprint),
 * another kv_type or an older mobilellm, a checksum mismatch, a truncated
 * file or trailing bytes; MLLM_ERR_CONTEXT when it does not fit s's n_ctx. */
MLLM_API mllm_status mllm_session_restore(mllm_session *s, const char *path, char *err, size_t errlen);
/* Attention probe: after each eval, the attention weights of the last evaluated token over
 * positions [0, pos), averaged over n (executed layer, query head) pairs (0-based; executed
 * layer l runs stored block l / 2 with layer sharing). Some heads of a trained model look at
 * the words the next token copies, which makes the probe a pointer into the prompt (the copy
 * constraint's, mllm_constraint_set_source_tokens). n = 0 turns it off. MLLM_ERR_ARG for n
 * above MLLM_MAX_PROBE_HEADS or a layer or head out of range; MLLM_ERR_NOMEM. A fork keeps the
 * heads and the weights. */
MLLM_API mllm_status mllm_session_set_probe(mllm_session *s, const int *layers, const int *heads, int n,
                                   char *err, size_t errlen);
/* The probe's weights for the last evaluated token (*n_pos of them, summing to 1), or NULL
 * when the probe is off or nothing was evaluated since it was set or the session rewound. */
MLLM_API const float *mllm_session_probe(const mllm_session *s, int *n_pos);
/* 64-bit fingerprint of the model: XXH3-64 of its shape, compute format,
 * rope_theta, rms_norm_eps and every weight as mllm_model_save writes it.
 * Hashed on the first call (from any thread; the others wait), so loading
 * stays lazy: about 0.1 s for the 125M shape in f32 from the page cache,
 * 0.3 s from disk. */
MLLM_API uint64_t mllm_model_fingerprint(const mllm_model *m);

/* -------------------------------------------------------------- sampler */

typedef struct mllm_sampler_params {
    float temperature;         /* 0 = greedy */
    int top_k;                 /* 0 = off */
    float top_p;               /* 1 = off */
    float min_p;               /* 0 = off */
    float repeat_penalty;      /* 1 = off; applied to tokens in the history */
    int repeat_last_n;         /* how much history the penalty sees; -1 = all */
    uint64_t seed;
} mllm_sampler_params;

typedef struct mllm_sampler mllm_sampler;

MLLM_API mllm_sampler_params mllm_sampler_default_params(void);
/* Validates params (NaN, negative values...) and names the bad one in err. */
MLLM_API mllm_status mllm_sampler_new(const mllm_sampler_params *p, int n_vocab, mllm_sampler **out,
                             char *err, size_t errlen);
MLLM_API void mllm_sampler_free(mllm_sampler *s);
/* Picks a token from logits (not modified). history/n_history feed the
 * repetition penalty. Returns -1 when the logits hold NaN: no token can be
 * chosen (-INFINITY is a forbidden token, +INFINITY a certain one). */
MLLM_API int32_t mllm_sampler_sample(mllm_sampler *s, const float *logits,
                            const int32_t *history, size_t n_history);

/* ------------------------------------------------------------ generator */

/* Called before each token is sampled, with the logits (which it may change,
 * e.g. set to -INFINITY to forbid tokens) and the text generated so far. */
typedef void (*mllm_logits_hook)(void *ud, float *logits, int n_vocab, const char *text, size_t len);

/* Copy drafts by default (mllm_generate_params.draft_tokens): off. A batch of
 * k + 1 tokens costs about k + 1 one-token steps with these kernels on the CPUs
 * measured (`lua5.4 tools/draft_bench.lua`, docs/performance.md, "Copy drafts"),
 * so drafts saved no time on the shipped model's test set. */
#define MLLM_DEFAULT_DRAFT 0

typedef struct mllm_generate_params {
    int max_tokens;                    /* default 256 */
    const char *stops[MLLM_MAX_STOPS]; /* NULL-terminated list of stop strings */
    size_t n_stops;
    bool stop_at_eos;                  /* default true */
    mllm_sampler_params sampler;
    mllm_logits_hook logits_hook;      /* NULL = none */
    void *hook_ud;
    /* Copy drafts (prompt-lookup speculative decoding): after each token, the
     * tokens that followed the latest earlier occurrence of the last 3 (else 2)
     * tokens of this generation's prompt and output are evaluated with it in
     * one batch; each later token that the sampler picks as drafted costs no
     * forward. The text is what plain decoding gives, for greedy and sampled
     * decoding alike: each token is sampled from its position's logits, then
     * compared with the draft (float weights: the same logits bit for bit).
     * The most tokens one draft proposes: 0 = off, at most MLLM_MAX_DRAFT;
     * default MLLM_DEFAULT_DRAFT. A stepwise job drafts only where its frame
     * has room for the measured cost of a drafted batch. */
    int draft_tokens;
} mllm_generate_params;

typedef enum mllm_stop_reason {
    MLLM_STOP_NONE = 0, MLLM_STOP_EOS, MLLM_STOP_STRING, MLLM_STOP_LENGTH, MLLM_STOP_CONTEXT,
    MLLM_STOP_CANCELLED        /* mllm_session_cancel or mllm_job_cancel */
} mllm_stop_reason;

MLLM_API const char *mllm_stop_reason_name(mllm_stop_reason r);

typedef struct mllm_generate_info {
    int prompt_tokens;
    int generated_tokens;
    mllm_stop_reason stop;
    double prefill_seconds, decode_seconds;
    int drafted_tokens;    /* copy-draft tokens evaluated ahead */
    int accepted_tokens;   /* of those, tokens sampled as drafted (each saved a forward) */
} mllm_generate_info;

typedef struct mllm_generator mllm_generator;

MLLM_API mllm_generate_params mllm_generate_default_params(void);
/* Evaluates the prompt ids on the session (they continue its history) and
 * prepares generation. The generator borrows the session: free the generator
 * before the session. Stop strings are copied. MLLM_CANCELLED when a cancel
 * stopped the prefill (no generator is made; the session holds the chunks
 * evaluated before it, see mllm_session_cancel). */
MLLM_API mllm_status mllm_generator_new(mllm_session *s, const int32_t *prompt, size_t n_prompt,
                               const mllm_generate_params *p, mllm_generator **out,
                               char *err, size_t errlen);
/* Produces the next piece of text. MLLM_OK: *piece and *len hold text (valid until
 * the next call; may be empty while a UTF-8 character or a possible stop
 * string is held back) and *id the token sampled. MLLM_DONE: generation ended
 * (any held-back text has already been returned). MLLM_ERR_NUMERIC: the
 * model's logits hold NaN or infinity (or the logits hook left NaN in them);
 * the message names the position. MLLM_CANCELLED: mllm_session_cancel stopped
 * it (the token being evaluated is not in the session, nor in the text); the
 * generator has ended (see mllm_session_cancel). */
MLLM_API mllm_status mllm_generator_next(mllm_generator *g, const char **piece, size_t *len,
                                int32_t *id, char *err, size_t errlen);
MLLM_API const mllm_generate_info *mllm_generator_info(const mllm_generator *g);
MLLM_API void mllm_generator_free(mllm_generator *g);

/* ------------------------------------------------------------------ job */

/* A job runs a generation on a session, either stepwise, on the caller's
 * thread, a time budget at a time (a game's frame loop), or on a worker
 * thread of its own (pthreads), polled without blocking.
 *
 * The session belongs to the job from mllm_job_start to mllm_job_free: eval,
 * score, rewind, fork, save, restore, set_probe, mllm_generator_new and another
 * mllm_job_start on it return MLLM_ERR_ARG ("the session is busy: a job is
 * running on it"). mllm_session_free on a session a job still runs on is safe:
 * it cancels the job, joins its thread and frees its generator first; the job
 * ends "cancelled" and must still be freed. The job holds the session, which
 * holds the model: releasing the model while a job runs is safe too.
 *
 * Threads: mllm_job_start, _step, _poll, _wait, _info, _ended and _free are
 * for one host thread at a time; mllm_job_cancel may be called from any thread
 * (it takes the job's mutex: from a signal handler, call mllm_session_cancel on
 * the job's session instead, which the job obeys the same way). In async mode
 * the worker thread runs the forward pass, the sampler, the logits hook (a
 * constraint) and on_piece: they must not touch state the host uses meanwhile. */
typedef struct mllm_job mllm_job;

typedef struct mllm_job_params {
    mllm_generate_params gen;  /* as mllm_generator_new's */
    bool async;                /* false: mllm_job_step drives it; true: a worker thread runs it now */
    /* Called with each piece as it is made (as mllm_generator_next returns it),
     * on the thread that makes it; returning false ends the job there (final
     * status MLLM_DONE, stop reason "none"). NULL = none. */
    bool (*on_piece)(void *ud, const char *piece, size_t len, int32_t id);
    void *piece_ud;
    /* Stepwise prefill: prompt tokens per chunk. 0 (the default) = sized from
     * the measured speed so that a step stays within its budget; n_batch gives
     * the logits of mllm_generator_new bit for bit (other chunkings may differ
     * in the last bits, as with another n_batch). An async job's prefill runs
     * in n_batch chunks. */
    size_t prefill_chunk;
} mllm_job_params;

MLLM_API mllm_job_params mllm_job_default_params(void);
/* Starts a job on s with the prompt ids (copied; they continue the session's
 * history, as mllm_generator_new). Nothing is evaluated yet in stepwise mode;
 * in async mode the worker thread starts at once. Fails as mllm_generator_new
 * does before its prefill (MLLM_ERR_ARG, MLLM_ERR_CONTEXT, MLLM_ERR_NOMEM), and
 * with MLLM_ERR_ARG when the session is busy. */
MLLM_API mllm_status mllm_job_start(mllm_session *s, const int32_t *prompt, size_t n_prompt,
                                    const mllm_job_params *p, mllm_job **out, char *err, size_t errlen);
/* Advances a stepwise job by about budget_ms milliseconds: prefill chunks
 * sized from the measured speed, then tokens while the measured cost of one
 * fits what is left of the budget. At least one unit of work is done (one
 * prompt token or one generated token), so a step can overrun a too small
 * budget by one decode step. *text, *len: the text made during the step
 * (NUL-terminated, valid until the next call on the job).
 * Returns MLLM_OK while the job runs; once it has ended, its final status:
 * MLLM_DONE (eos, a stop string, max_tokens, the context, or on_piece),
 * MLLM_CANCELLED (mllm_job_cancel or mllm_session_cancel), or the failure
 * (MLLM_ERR_NUMERIC ...) with its message; every later call returns the same
 * with no text. MLLM_ERR_ARG for an async job. */
MLLM_API mllm_status mllm_job_step(mllm_job *j, double budget_ms, const char **text, size_t *len,
                                   char *err, size_t errlen);
/* Never blocks: the text made since the last step, poll or wait, and the status
 * as mllm_job_step. When the worker holds the job's mutex at that instant (it
 * does only to copy a piece), it returns MLLM_OK with no text: poll again. For
 * a stepwise job it hands out nothing new (a step does the work). */
MLLM_API mllm_status mllm_job_poll(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen);
/* Blocks until the job has ended (a stepwise job runs to its end on the
 * caller's thread); then as mllm_job_poll: the rest of the text and the final status. */
MLLM_API mllm_status mllm_job_wait(mllm_job *j, const char **text, size_t *len, char *err, size_t errlen);
/* Asks the job to stop: it ends within one layer's time (an async job), or
 * at the next step (a stepwise job), with MLLM_CANCELLED and stop reason
 * "cancelled"; the text made before stays, and the session holds what was
 * evaluated (see mllm_session_cancel). Nothing once the job has ended. */
MLLM_API void mllm_job_cancel(mllm_job *j);
MLLM_API bool mllm_job_async(const mllm_job *j);
/* Whether the job has ended (its text may not all be handed out yet). */
MLLM_API bool mllm_job_ended(mllm_job *j);
/* The generation's info so far (prompt_tokens counts the prompt evaluated yet). */
MLLM_API void mllm_job_info(mllm_job *j, mllm_generate_info *info);
/* The ids of the tokens generated so far, in order (each is in the session,
 * EOS and a stop string's included): copies up to cap of them into out (out
 * may be NULL with cap 0) and returns how many there are. Safe while the
 * worker runs: call it again when it returns more than cap. */
MLLM_API size_t mllm_job_ids(mllm_job *j, int32_t *out, size_t cap);
/* Cancels the job, joins its thread, frees it; the session is free again. */
MLLM_API void mllm_job_free(mllm_job *j);

/* ------------------------------------------------ PyTorch checkpoints */

/* mllm_model_load also reads pytorch_model.bin (a torch.save zip archive of a
 * state dict) and pytorch_model.bin.index.json shards, without running the
 * pickle: a restricted unpickler accepts only the opcodes and globals a
 * state dict needs. Tensor data is used from the memory map as with
 * safetensors. The limits of that reader are MLLM_MAX_PICKLE* and
 * MLLM_MAX_ZIP_ENTRIES (mobilellm_limits.h). */

/* Writes the checkpoint in dir (model.safetensors, its shards, pytorch_model.bin
 * or its shards, found in that order) as one safetensors file at out_path:
 * every tensor as stored, with its name, dtype and shape (tensors sharing a
 * torch storage are written once each). config.json is not needed. The file
 * is written next to out_path and renamed into place, so out_path may be a
 * file of the checkpoint itself. MLLM_ERR_IO for a missing or unwritable
 * file, MLLM_ERR_FORMAT for a corrupt or refused checkpoint, MLLM_ERR_TENSOR
 * for a name stored in two shards, MLLM_ERR_ARG for a path that is too long. */
MLLM_API mllm_status mllm_checkpoint_convert(const char *dir, const char *out_path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
