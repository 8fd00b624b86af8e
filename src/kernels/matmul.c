/* matmul.c — weight × activations through OpenBLAS: sgemv for one token
 * (decode), sgemm for a batch (prefill). */
#include "kernels.h"

#include <cblas.h>

void mllm_matmul(float *out, const float *in, const float *w, int T, int N, int K)
{
    if (T == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, N, K, 1.0f, w, K, in, 1, 0.0f, out, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, in, K, w, K, 0.0f, out, N);
}

void mllm_set_threads(int n)
{
    openblas_set_num_threads(n);
}
