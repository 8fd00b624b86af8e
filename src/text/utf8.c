/* utf8.c — strict UTF-8 validation and boundary finding. */
#include "utf8.h"

/* Length of the valid sequence starting at s[0] (1..4), 0 if invalid, or
 * -1 if it is a valid but incomplete prefix of a sequence. */
int mllm_utf8_seq_len(const char *str, size_t avail)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0], n, min, v;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; v = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; v = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; v = c & 0x07; }
    else return 0;
    for (unsigned k = 1; k <= n; k++) {
        if (k >= avail) return -1;
        if ((s[k] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    return (int)n + 1;
}

size_t mllm_utf8_check(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int n = mllm_utf8_seq_len(s + i, len - i);
        if (n <= 0) return i;
        i += (size_t)n;
    }
    return len;
}

size_t mllm_utf8_complete_prefix(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int n = mllm_utf8_seq_len(s + i, len - i);
        if (n < 0) return i;    /* incomplete tail: wait for more bytes */
        i += n ? (size_t)n : 1; /* an invalid byte is passed on as it is */
    }
    return len;
}
