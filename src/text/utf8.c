/* utf8.c — strict UTF-8 validation and boundary finding. */
#include "utf8.h"

int mllm_utf8_lead(unsigned char b, unsigned char *lo, unsigned char *hi)
{
    *lo = 0x80;
    *hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) return 2;
    if (b == 0xE0) { *lo = 0xA0; return 3; }
    if (b >= 0xE1 && b <= 0xEC) return 3;
    if (b == 0xED) { *hi = 0x9F; return 3; }
    if (b == 0xEE || b == 0xEF) return 3;
    if (b == 0xF0) { *lo = 0x90; return 4; }
    if (b >= 0xF1 && b <= 0xF3) return 4;
    if (b == 0xF4) { *hi = 0x8F; return 4; }
    return 0;
}

int mllm_utf8_seq_len(const char *str, size_t avail)
{
    const unsigned char *s = (const unsigned char *)str;
    if (s[0] < 0x80) return 1;
    unsigned char lo, hi;
    int n = mllm_utf8_lead(s[0], &lo, &hi);
    if (!n) return 0;
    for (int k = 1; k < n; k++) {
        if ((size_t)k >= avail) return -1;  /* valid so far, incomplete */
        unsigned char b = s[k];
        if (k == 1 ? (b < lo || b > hi) : (b & 0xC0) != 0x80) return 0;
    }
    return n;
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
