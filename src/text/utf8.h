/* utf8.h — strict UTF-8 helpers shared by the tokenizer, generator and loader. */
#ifndef MLLM_UTF8_H
#define MLLM_UTF8_H

#include <stddef.h>

/* Offset of the first byte that does not start a valid UTF-8 sequence (no
 * overlongs, surrogates or values past U+10FFFF), or len when all is valid. */
size_t mllm_utf8_check(const char *s, size_t len);
/* Length of the longest prefix of s that ends on a character boundary, given
 * that the text may continue (an incomplete sequence at the end is held back). */
size_t mllm_utf8_complete_prefix(const char *s, size_t len);

/* For a lead byte (>= 0x80): the character's length (2..4) and the range [*lo, *hi] of its
 * first continuation byte, which rules out overlong forms, surrogates and values past
 * U+10FFFF (every later continuation byte is 0x80..0xBF); 0 for a byte that cannot lead.
 * The one table of UTF-8 the engine decodes with (the checks below, the constraint's
 * byte-by-byte state machine). */
int mllm_utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi);

/* Length (1..4) of the valid sequence at s[0], 0 if s[0] starts no valid
 * sequence, or -1 if the bytes so far are a valid but incomplete sequence. */
int mllm_utf8_seq_len(const char *s, size_t avail);

#endif
