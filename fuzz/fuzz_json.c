/* The strict JSON reader behind safetensors headers. A parsed tree is walked
 * whole; every string and member name must survive bb_json_quote and a
 * second parse unchanged. */
#include "fuzz.h"

#include "util/json.h"

#include <stdlib.h>
#include <string.h>

static void roundtrip(const char *s)
{
    size_t need = bb_json_quote(NULL, 0, s) + 1;
    char *q = malloc(need);
    BB_FUZZ_REQUIRE(q != NULL);
    BB_FUZZ_REQUIRE(bb_json_quote(q, need, s) + 1 == need);
    bb_json *j = NULL;
    BB_FUZZ_REQUIRE(bb_json_parse(q, need - 1, "quoted", &j) == BB_OK);
    BB_FUZZ_REQUIRE(j->type == BB_JSON_STRING && strcmp(j->str, s) == 0);
    bb_json_free(j);
    free(q);
}

static void walk(const bb_json *j, int depth)
{
    BB_FUZZ_REQUIRE(depth <= 64);
    for (; j; j = j->next) {
        if (j->key) roundtrip(j->key);
        switch (j->type) {
        case BB_JSON_STRING: BB_FUZZ_REQUIRE(j->str != NULL); roundtrip(j->str); break;
        case BB_JSON_OBJECT:
            for (const bb_json *c = j->child; c; c = c->next) BB_FUZZ_REQUIRE(c->key && bb_json_get(j, c->key));
            /* fall through */
        case BB_JSON_ARRAY: walk(j->child, depth + 1); break;
        case BB_JSON_NUMBER: BB_FUZZ_REQUIRE(!j->is_integer || (double)j->integer == j->num); break;
        default: break;
        }
    }
}

int bb_fuzz_json(const uint8_t *data, size_t size)
{
    bb_json *root = NULL;
    if (bb_json_parse((const char *)data, size, "fuzz", &root) == BB_OK) {
        BB_FUZZ_REQUIRE(root != NULL);
        walk(root, 0);
        bb_json_free(root);
    } else {
        BB_FUZZ_REQUIRE(root == NULL);
    }
    return 0;
}

#ifdef BB_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return bb_fuzz_json(data, size); }
#endif
