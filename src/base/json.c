/* json.c — parsing with cJSON (json.h). */
#include "base/json.h"

#include <errno.h>

cJSON *mllm_json_parse(const char *s, size_t len, const char **end, bool *nomem)
{
    /* malloc sets errno to ENOMEM when it fails (POSIX), and so does the fault
     * build's seam, which cJSON allocates through there (alloc.c); nothing else
     * in a parse sets it. cJSON_InitHooks is not used for this in a normal
     * build: hooks are process-wide, and a host may have set its own. */
    int saved = errno;
    errno = 0;
    cJSON *root = cJSON_ParseWithLengthOpts(s, len, end, 0);
    *nomem = !root && errno == ENOMEM;
    errno = saved;
    return root;
}
