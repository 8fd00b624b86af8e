/* asan_env.c — preloaded into lua5.4 after the ASan runtime by `make test-asan`
 * (not a test of its own).
 *
 * The interpreter keeps the ASan options it started with (leak detection on,
 * for our module), but the programs the specs start — sh, make, install, tmux,
 * another lua5.4 — get MLLM_ASAN_CHILD_OPTIONS instead: those uninstrumented
 * system tools are not ours to leak-check, and some of them fail under
 * LeakSanitizer. Linked against the ASan runtime, so that runtime has read
 * ASAN_OPTIONS before this constructor changes it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

__attribute__((constructor)) static void asan_child_options(void)
{
    const char *opts = getenv("MLLM_ASAN_CHILD_OPTIONS");
    if (opts) setenv("ASAN_OPTIONS", opts, 1);
}
