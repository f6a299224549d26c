/* `bigbatch summary --model M --input CxHxW --classes K` */
#include "cli/cli.h"

#include "model/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_summary(int argc, char **argv)
{
    bb_model_spec spec = {.c = 1, .h = 28, .w = 28, .classes = 10};
    snprintf(spec.name, sizeof spec.name, "resnet20");
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(argv[i], "--help")) {
            printf("usage: bigbatch summary [--model resnet20] [--input 1x28x28] [--classes 10] [--shortcut A|B] [--width W]\n");
            return 0;
        }
        if (!v) { fprintf(stderr, "bigbatch summary: %s needs a value\n", argv[i]); return 2; }
        char tail = 0;
        if (!strcmp(argv[i], "--model")) snprintf(spec.name, sizeof spec.name, "%s", v);
        else if (!strcmp(argv[i], "--input")) {
            long long c, h, w;
            if (sscanf(v, "%lldx%lldx%lld%c", &c, &h, &w, &tail) != 3) {
                fprintf(stderr, "bigbatch summary: --input: expected CxHxW such as 3x32x32, got '%s'\n", v);
                return 2;
            }
            spec.c = c; spec.h = h; spec.w = w;
        } else if (!strcmp(argv[i], "--classes")) spec.classes = atoll(v);
        else if (!strcmp(argv[i], "--shortcut")) spec.shortcut = v[0];
        else if (!strcmp(argv[i], "--width")) spec.width = atoll(v);
        else { fprintf(stderr, "bigbatch summary: unknown flag '%s'\n", argv[i]); return 2; }
        i++;
    }
    bb_net net;
    if (bb_model_build(&net, &spec) != BB_OK) {
        fprintf(stderr, "bigbatch summary: %s\n", bb_last_error());
        return 1;
    }
    bb_model_print_summary(&net, &spec, stdout);
    bb_net_free(&net);
    return 0;
}
