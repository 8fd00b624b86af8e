/* json.h — parsing with cJSON. cJSON's parsers return NULL for a syntax error
 * and for an allocation that failed alike; this one tells them apart, so that
 * a full memory is never reported as a corrupt file. */
#ifndef MLLM_JSON_H
#define MLLM_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

/* cJSON_ParseWithLengthOpts on len bytes of s (no NUL needed): the tree, or
 * NULL with *nomem telling whether memory ran out (else the text is not JSON;
 * *end, when end is given, is where cJSON stopped). */
cJSON *mllm_json_parse(const char *s, size_t len, const char **end, bool *nomem);

#endif
