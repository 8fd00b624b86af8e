/* json.c — cJSON behind the allocator seam (json.h). */
#include "base/json.h"
#include "base/alloc.h"

#include <pthread.h>

/* set by the hook when an allocation fails during this thread's parse */
static _Thread_local bool ran_out;

static void *hook_malloc(size_t n)
{
    void *p = mllm_malloc(n);
    if (!p) ran_out = true;
    return p;
}

static void hook_free(void *p) { mllm_free(p); }

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void install_hooks(void)
{
    cJSON_Hooks hooks = { hook_malloc, hook_free };
    cJSON_InitHooks(&hooks);
}

void mllm_json_init(void) { pthread_once(&hooks_once, install_hooks); }

cJSON *mllm_json_parse(const char *s, size_t len, const char **end, bool *nomem)
{
    mllm_json_init();
    ran_out = false;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, end, 0);
    *nomem = !root && ran_out;
    return root;
}
