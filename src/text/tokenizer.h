/* tokenizer.h — the two tokenizers behind mllm_tokenizer: a C face over the
 * sentencepiece library (tokenizer_sp.cpp) for tokenizer.model, and Hugging
 * Face's tokenizer.json in C (hf_tokenizer.h). No function here throws or
 * calls Lua; errors come back as text. */
#ifndef MLLM_TOKENIZER_H
#define MLLM_TOKENIZER_H

#include "mobilellm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* tokenizer.c: a model's tokenizer takes the ids up to the model's vocab_size
 * (>= its pieces); the ones past its pieces have no text. Set once, at load. */
void mllm_tokenizer_pad(mllm_tokenizer *t, int vocab_size);
/* Whether decoding drops the first token's leading space (sentencepiece and
 * SentencePiece-style tokenizer.json do; byte-level BPE keeps it), so that the
 * generator's stream is the decode of the same ids. */
bool mllm_tokenizer_drops_first_space(const mllm_tokenizer *t);
/* The memory a tokenizer holds, estimated from the size of its file (12 times
 * it for a tokenizer.model, as measured; the file's size for a tokenizer.json):
 * what the Lua binding tells the collector a tokenizer of its own holds. */
size_t mllm_tokenizer_bytes(const mllm_tokenizer *t);

typedef struct mllm_sp mllm_sp;

/* Parses a serialized sentencepiece model (the bytes of a tokenizer.model,
 * which the caller has read: the shim opens no file). name only labels the
 * messages. The three that can fail return MLLM_OK, MLLM_ERR_NOMEM when memory
 * ran out (ours, or sentencepiece's std::bad_alloc) or MLLM_ERR_TOKENIZER;
 * err holds the reason. */
mllm_status mllm_sp_load(const char *name, const void *data, size_t len, mllm_sp **out, char *err, size_t errlen);
void mllm_sp_free(mllm_sp *sp);
int mllm_sp_vocab_size(const mllm_sp *sp);
int mllm_sp_bos(const mllm_sp *sp);
int mllm_sp_eos(const mllm_sp *sp);
/* *ids is malloc'd (free()). Text must be valid UTF-8 (checked by the caller). */
mllm_status mllm_sp_encode(const mllm_sp *sp, const char *text, size_t len, int32_t **ids, size_t *n,
                   char *err, size_t errlen);
/* ids must be in range (checked by the caller). *text is malloc'd, NUL-terminated. */
mllm_status mllm_sp_decode(const mllm_sp *sp, const int32_t *ids, size_t n, char **text, size_t *len,
                   char *err, size_t errlen);
/* Bytes of one piece in running text; see mllm_token_bytes. */
int mllm_sp_piece_bytes(const mllm_sp *sp, int32_t id, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
