/* The process's hooks (util/hooks.h): set once by the program, read after. */
#include "util/hooks.h"

#include <string.h>

static bb_hooks hooks = {0, "", 0, 1, 0, -1, -1};

void bb_hooks_default(bb_hooks *h)
{
    memset(h, 0, sizeof *h);
    h->cudnn_find = 1;
    h->launcher_rank = h->launcher_local_rank = -1;
}

void bb_hooks_set(const bb_hooks *h) { hooks = *h; }

const bb_hooks *bb_hooks_get(void) { return &hooks; }
