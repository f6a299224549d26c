/* The parts of the public interface (include/bigbatch.h) that are not the
 * trainer's own functions: configurations on the heap, key lookup, resuming in
 * one call, and the step metrics by name. Thin: the work is in src/train. */
#include "bigbatch.h"

#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>

bb_status bb_config_create(bb_config **out)
{
    *out = malloc(sizeof **out);
    if (!*out) return bb_fail(BB_ERR_NOMEM, "configuration: out of memory");
    bb_config_defaults(*out);
    return BB_OK;
}

void bb_config_destroy(bb_config *c) { free(c); }

bb_status bb_config_value(const bb_config *c, const char *key, char *buf, size_t cap)
{
    const bb_config_field *f = key ? bb_config_find(key) : NULL;
    if (!f) return bb_fail(BB_ERR_INVALID, "unknown configuration key '%s'", key ? key : "(null)");
    if (cap == 0) return bb_fail(BB_ERR_INVALID, "%s: no room for the value", key);
    char v[1024];
    bb_config_get(c, f, v, sizeof v);
    if (strlen(v) >= cap) return bb_fail(BB_ERR_INVALID, "%s: the value needs %zu bytes, the buffer has %zu", key, strlen(v) + 1, cap);
    memcpy(buf, v, strlen(v) + 1);
    return BB_OK;
}

const char *bb_config_key(int i, const char **help)
{
    if (i < 0 || i >= bb_config_nfields) return NULL;
    if (help) *help = bb_config_fields[i].help;
    return bb_config_fields[i].name;
}

bb_status bb_trainer_resume(bb_trainer **out, const char *checkpoint, const char *const *overrides, bb_comm *comm)
{
    *out = NULL;
    if (!checkpoint || !checkpoint[0]) return bb_fail(BB_ERR_INVALID, "resume: no checkpoint given");
    bb_config c;
    unsigned char given[256] = {0};
    if (bb_config_nfields > (int)sizeof given) return bb_fail(BB_ERR_INVALID, "resume: too many configuration fields");
    bb_config_defaults(&c);
    for (int i = 0; overrides && overrides[i]; i += 2) {
        if (!overrides[i + 1]) return bb_fail(BB_ERR_INVALID, "resume: override '%s' has no value", overrides[i]);
        BB_TRY(bb_config_set(&c, overrides[i], overrides[i + 1]));
        given[bb_config_find(overrides[i]) - bb_config_fields] = 1;
    }
    BB_TRY(bb_config_resumed(&c, checkpoint, given));
    BB_TRY(bb_config_validate(&c));
    return bb_trainer_start(out, &c, comm);
}

/* the metrics of bb_step_stats by name, after "step" */
#define M(field) {#field, offsetof(bb_step_stats, field)}
static const struct { const char *name; size_t offset; } metrics[] = {
    M(epoch), M(loss), M(err), M(lr), M(grad_norm), M(t_data), M(t_fwd), M(t_bwd), M(t_reduce), M(t_update),
    M(t_step), M(b_noise), M(t_allreduce), M(noise_g2), M(noise_trace),
};
#undef M

int bb_step_metric(const bb_step_stats *st, int i, const char **name, double *value)
{
    if (i == 0) {
        *name = "step";
        *value = (double)st->step;
        return 1;
    }
    if (i < 0 || i > (int)(sizeof metrics / sizeof metrics[0])) return 0;
    *name = metrics[i - 1].name;
    memcpy(value, (const char *)st + metrics[i - 1].offset, sizeof *value);
    return 1;
}
