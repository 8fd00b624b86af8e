/* check.h — the one check() of the C tests: TAP lines ("ok N - what" /
 * "not ok N - what"), counted so that main can print the plan and exit
 * non-zero when n_failed > 0. Included by each spec/c/test_*.c. */
#ifndef MLLM_SPEC_CHECK_H
#define MLLM_SPEC_CHECK_H

#include <stdio.h>

static int n_checks, n_failed;

static void check(int ok, const char *what)
{
    n_checks++;
    if (!ok) n_failed++;
    printf("%sok %d - %s\n", ok ? "" : "not ", n_checks, what);
}

#endif
