/* hf_tokenizer.h — Hugging Face's tokenizer.json, in C: a BPE model (byte-level
 * as Llama-3 ships it, or SentencePiece-style with byte_fallback as Llama-2 and
 * SmolLM ship it), run as the `tokenizers` library runs it. The files:
 *   hf_load.c     the JSON: vocabulary, merges, added tokens, post-processor
 *   hf_components.c  the normalizer, pre-tokenizer and decoder steps
 *   hf_pretok.c   normalizers and pre-tokenizers (the Split regex, via PCRE2)
 *   bpe.c         the string table, the merge table and the merge loop
 *   hf_decode.c   the decoders
 *   hf_tokenizer.c added tokens, encode, piece bytes
 * Nothing here calls Lua; errors are one-line messages. */
#ifndef MLLM_HF_TOKENIZER_H
#define MLLM_HF_TOKENIZER_H

#include "mobilellm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mllm_hf mllm_hf;

/* Parses the bytes of a tokenizer.json (name labels the messages). */
mllm_status mllm_hf_load(const char *name, const char *json, size_t len, mllm_hf **out, char *err, size_t errlen);
void mllm_hf_free(mllm_hf *t);
/* Ids 0 .. n-1, each with a token (the vocabulary and the added tokens). */
int mllm_hf_vocab_size(const mllm_hf *t);
int mllm_hf_bos(const mllm_hf *t);
int mllm_hf_eos(const mllm_hf *t);
/* text is valid UTF-8 (checked by the caller); add_special applies the
 * TemplateProcessing post-processor (BOS). *ids is malloc'd. */
mllm_status mllm_hf_encode(const mllm_hf *t, const char *text, size_t len, bool add_special, int32_t **ids,
                           size_t *n, char *err, size_t errlen);
/* ids are in range (checked by the caller); special tokens give their content,
 * as Hugging Face's decode(ids) does. *text is malloc'd and NUL-terminated. */
mllm_status mllm_hf_decode(const mllm_hf *t, const int32_t *ids, size_t n, char **text, size_t *len, char *err,
                           size_t errlen);
/* The bytes one token adds to running text (see mllm_token_bytes): special
 * tokens add none. -1 for an id out of range. */
int mllm_hf_piece_bytes(const mllm_hf *t, int32_t id, char *buf, size_t cap);
/* Whether the decoder drops the first token's leading space (Strip, Metaspace). */
bool mllm_hf_drops_first_space(const mllm_hf *t);

/* ------------------------------------------------------------ internals */

typedef struct {
    char *s;
    size_t len;
} hf_str;

/* string -> id, open addressing (bpe.c) */
typedef struct {
    uint32_t *slot; /* id + 1, 0 = empty */
    size_t cap;     /* power of two */
    const hf_str *keys;
} hf_strmap;

/* (left id, right id) -> rank and merged id (bpe.c) */
typedef struct {
    uint64_t key;
    int32_t rank, merged;
} hf_merge;
typedef struct {
    hf_merge *slot; /* key 0 = empty; keys are stored + 1 */
    size_t cap;
} hf_mergemap;

enum hf_step_kind {
    HF_NORM_PREPEND,
    HF_NORM_REPLACE,
    HF_PRE_SPLIT,
    HF_PRE_BYTELEVEL,
    HF_PRE_METASPACE,
    HF_PRE_DIGITS,
    HF_DEC_BYTELEVEL,
    HF_DEC_METASPACE,
    HF_DEC_REPLACE,
    HF_DEC_BYTEFALLBACK,
    HF_DEC_FUSE,
    HF_DEC_STRIP,
};

enum { HF_PREPEND_ALWAYS, HF_PREPEND_FIRST, HF_PREPEND_NEVER };

typedef struct {
    enum hf_step_kind kind;
    hf_str a, b;     /* Prepend: a; Replace: a -> b; Metaspace: a = replacement; Strip: a = content */
    void *regex;     /* Split, ByteLevel with use_regex: pcre2_code */
    void *mctx;      /* its pcre2_match_context (match limits) */
    bool removed;    /* Split behavior Removed (else Isolated) */
    bool flag;       /* ByteLevel add_prefix_space; Metaspace split; Digits individual */
    int prepend;     /* Metaspace: HF_PREPEND_* */
    int start, stop; /* Strip */
} hf_step;

typedef struct {
    int32_t id;
    hf_str content;
    bool special, lstrip, rstrip, single_word;
} hf_added;

struct mllm_hf {
    char name[256];
    int n_ids;
    hf_str *token;    /* per id: its string in the file (vocab key or added content) */
    uint8_t *special; /* per id: an added token marked special */
    hf_strmap vocab;  /* every token string -> id */
    hf_mergemap merges;
    int32_t byte_id[256]; /* byte-level: the id of each byte's character; else the id of <0xXX>, or -1 */
    int32_t unk_id;       /* -1: none */
    bool byte_level, byte_fallback, fuse_unk, ignore_merges;
    hf_added *added;
    size_t n_added;
    uint32_t *added_order;    /* added tokens by first byte, longest first */
    uint32_t added_from[257]; /* added_order[added_from[b] .. added_from[b+1]) start with byte b */
    hf_step *norm, *pre, *dec;
    size_t n_norm, n_pre, n_dec;
    bool has_decoder;
    int32_t *prefix, *suffix; /* TemplateProcessing: ids before and after $A */
    size_t n_prefix, n_suffix;
    int32_t bos, eos;
};

/* hf_tokenizer.c: indexes the added tokens by their first byte. */
bool mllm_hf_index_added(mllm_hf *t);

/* hf_components.c: o (a cJSON object or null) into steps, appended to *steps. */
enum { HF_NORMALIZER, HF_PRE_TOKENIZER, HF_DECODER };
struct cJSON;
mllm_status mllm_hf_parse_steps(const char *name, int kind, const struct cJSON *o, hf_step **steps, size_t *n,
                                char *err, size_t errlen);

/* bpe.c */
uint32_t mllm_hf_hash(const char *s, size_t len);
bool mllm_hf_strmap_init(hf_strmap *m, const hf_str *keys, size_t n_hint);
/* -1 when absent */
int32_t mllm_hf_strmap_get(const hf_strmap *m, const char *s, size_t len);
/* false on out of memory; *prev gets an id already under that key, or -1 */
bool mllm_hf_strmap_put(hf_strmap *m, int32_t id, int32_t *prev);
void mllm_hf_strmap_free(hf_strmap *m);
bool mllm_hf_mergemap_init(hf_mergemap *m, size_t n);
/* false when the pair was there already: the later merge wins, as upstream */
bool mllm_hf_mergemap_put(hf_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
const hf_merge *mllm_hf_mergemap_get(const hf_mergemap *m, int32_t a, int32_t b);
void mllm_hf_mergemap_free(hf_mergemap *m);
/* Runs the merges on one pre-token (its bytes), appending ids to *ids. */
mllm_status mllm_hf_bpe_word(const mllm_hf *t, const char *w, size_t len, int32_t **ids, size_t *n, size_t *cap,
                             char *err, size_t errlen);

/* hf_pretok.c. A pre-token: bytes [off, off+len) of the working buffer. */
typedef struct {
    size_t off, len;
} hf_span;
typedef struct {
    char *buf;
    size_t len, cap;
    hf_span *span;
    size_t n_span, cap_span;
} hf_pieces;
/* Compiles a Split/ByteLevel regex (PCRE2, UTF + UCP). literal: a "String" pattern. */
mllm_status mllm_hf_regex_compile(hf_step *s, const char *name, const char *pattern, size_t len, bool literal,
                                  char *err, size_t errlen);
void mllm_hf_step_free(hf_step *s);
/* Normalizes and pre-tokenizes one run of text between added tokens into p.
 * at_start: the run begins the whole text (Metaspace's prepend_scheme "first"). */
mllm_status mllm_hf_pretokenize(const mllm_hf *t, const char *text, size_t len, bool at_start, hf_pieces *p,
                                char *err, size_t errlen);
void mllm_hf_pieces_free(hf_pieces *p);
/* The byte-level alphabet: the character (UTF-8, 1 or 2 bytes) standing for byte b. */
int mllm_hf_byte_char(unsigned b, char out[2]);
/* Its inverse for the code point cp: the byte, or -1. */
int mllm_hf_char_byte(uint32_t cp);

#endif
