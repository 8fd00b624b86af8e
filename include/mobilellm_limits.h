/*
 * mobilellm_limits.h — every bound of mobilellm in one place (as LPeg's
 * lptypes.h). Each error that hits one names the constant and its value
 * (docs/formats-and-limits.md lists them with what they bound). The call
 * parser's and the constraints' own bounds are MLLM_CALLS_MAX_* in
 * mobilellm_calls.h and MLLM_CST_* in src/calls/constrain.h.
 */
#ifndef MOBILELLM_LIMITS_H
#define MOBILELLM_LIMITS_H

/* ---- checkpoints */
#define MLLM_MAX_LAYERS          1024                   /* stored blocks */
#define MLLM_MAX_EOS_IDS         8                      /* ids of an eos_token_id list in config.json */
#define MLLM_MAX_DIM             65536                  /* hidden_size, heads, head_dim */
#define MLLM_MAX_VOCAB           1048576                /* vocab_size, top_k */
#define MLLM_MAX_CONTEXT         131072                 /* max_position_embeddings, max_tokens */
#define MLLM_MAX_DIMS            8                      /* dimensions of one stored tensor */
#define MLLM_MAX_HEADER          (100u * 1024u * 1024u) /* safetensors JSON header */
#define MLLM_MAX_PICKLE          (16u * 1024u * 1024u)  /* bytes of data.pkl in pytorch_model.bin */
#define MLLM_MAX_PICKLE_OBJECTS  (1u << 20)             /* objects and container slots one pickle makes */
#define MLLM_MAX_PICKLE_STACK    65536                  /* unpickler stack depth, and open MARKs */
#define MLLM_MAX_PICKLE_MEMO     (1u << 18)             /* memo indices (BINPUT) below this */
#define MLLM_MAX_PICKLE_STRING   65536                  /* bytes of one pickled string */
#define MLLM_MAX_ZIP_ENTRIES     (1u << 20)             /* records in one pytorch_model.bin archive */

/* ---- files read from outside (regular files only, read no further than these) */
#define MLLM_MAX_PATH            4096                   /* a path, the file name joined to its directory */
#define MLLM_MAX_CONFIG_BYTES    (16u << 20)            /* config.json */
#define MLLM_MAX_INDEX_BYTES     (64u << 20)            /* model.safetensors.index.json, pytorch_model.bin.index.json */
#define MLLM_MAX_TOKENIZER_BYTES (64u << 20)            /* tokenizer.model, tokenizer.json */

/* ---- tokenizer.json */
#define MLLM_MAX_TOKEN_BYTES     1024                   /* one token's string */
#define MLLM_MAX_MERGES          (1 << 22)              /* BPE merges */
#define MLLM_MAX_ADDED_TOKENS    65536                  /* added_tokens */
#define MLLM_MAX_TOKENIZER_STEPS 64                     /* normalizer, pre_tokenizer, decoder steps (each) */
#define MLLM_MAX_REGEX_BYTES     4096                   /* a pre-tokenizer regex */
#define MLLM_MAX_REGEX_MATCH     10000000               /* PCRE2 match limit: steps of one regex search */
#define MLLM_MAX_REGEX_DEPTH     100000                 /* PCRE2 depth limit: its backtracking depth */

/* ---- generation and sessions */
#define MLLM_MAX_STOPS           16                     /* stop strings per generation */
#define MLLM_MAX_PROBE_HEADS     16                     /* heads one attention probe averages */
#define MLLM_MAX_DRAFT           16                     /* tokens one copy draft proposes */

/* ---- the Lua side */
#define MLLM_MAX_JSON_DEPTH      256                    /* nesting of a value mllm.json_encode/decode takes */
#define MLLM_MAX_HISTORY_LINES   1000                   /* lines the chat/agent prompt's history keeps (lineedit) */

/* ---- messages */
#define MLLM_ERRLEN              512                    /* an error buffer that never truncates */

#endif
