/* ResNet builders (He et al. 2016). CIFAR family: 3x3 stem, three stages of n
 * basic blocks at widths w, 2w, 4w. ImageNet family: 7x7/2 stem, 3x3/2 max pool,
 * four stages at 64..512 (x4 for bottlenecks), stride on the 3x3 conv ("v1.5").
 * The last BN of every residual block is marked so its gamma can start at 0. */
#include "model/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int conv_bn(bb_net *net, const char *prefix, const char *conv, const char *bn, int x,
                   int64_t cout, int64_t k, int64_t stride, int last)
{
    char a[48], b[48];
    snprintf(a, sizeof a, "%s%s", prefix, conv);
    snprintf(b, sizeof b, "%s%s", prefix, bn);
    x = bb_net_conv(net, a, x, cout, k, stride, k / 2);
    return bb_net_bn(net, b, x, last);
}

static int shortcut(bb_net *net, const char *prefix, int x, int64_t cout, int64_t stride, char kind)
{
    const bb_dims *d = &net->tensors[x < 0 ? 0 : x];
    if (x < 0 || (stride == 1 && d->c == cout)) return x;
    if (kind == 'A') return bb_net_padshort(net, x, cout, stride);
    char a[48], b[48];
    snprintf(a, sizeof a, "%sdownsample.0", prefix);
    snprintf(b, sizeof b, "%sdownsample.1", prefix);
    x = bb_net_conv(net, a, x, cout, 1, stride, 0);
    return bb_net_bn(net, b, x, 0);
}

static int basic_block(bb_net *net, const char *prefix, int x, int64_t cout, int64_t stride, char sc)
{
    int y = conv_bn(net, prefix, "conv1", "bn1", x, cout, 3, stride, 0);
    y = bb_net_relu(net, y);
    y = conv_bn(net, prefix, "conv2", "bn2", y, cout, 3, 1, 1);
    int s = shortcut(net, prefix, x, cout, stride, sc);
    return bb_net_relu(net, bb_net_add(net, y, s));
}

static int bottleneck(bb_net *net, const char *prefix, int x, int64_t mid, int64_t stride)
{
    int y = bb_net_relu(net, conv_bn(net, prefix, "conv1", "bn1", x, mid, 1, 1, 0));
    y = bb_net_relu(net, conv_bn(net, prefix, "conv2", "bn2", y, mid, 3, stride, 0));
    y = conv_bn(net, prefix, "conv3", "bn3", y, 4 * mid, 1, 1, 1);
    int s = shortcut(net, prefix, x, 4 * mid, stride, 'B');
    return bb_net_relu(net, bb_net_add(net, y, s));
}

static int head(bb_net *net, int x, int64_t classes)
{
    return bb_net_linear(net, "fc", bb_net_avgpool(net, x), classes, 1);
}

static int cifar_resnet(bb_net *net, int blocks, int64_t width, char sc, int64_t classes)
{
    int x = bb_net_relu(net, conv_bn(net, "", "conv1", "bn1", net->input, width, 3, 1, 0));
    for (int s = 0; s < 3; s++)
        for (int b = 0; b < blocks; b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d.", s + 1, b);
            x = basic_block(net, prefix, x, width << s, (s > 0 && b == 0) ? 2 : 1, sc);
        }
    return head(net, x, classes);
}

static int imagenet_resnet(bb_net *net, const int *blocks, int bottle, int64_t width, char sc, int64_t classes)
{
    int x = bb_net_relu(net, conv_bn(net, "", "conv1", "bn1", net->input, width, 7, 2, 0));
    x = bb_net_maxpool(net, x, 3, 2, 1);
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < blocks[s]; b++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d.", s + 1, b);
            int64_t stride = (s > 0 && b == 0) ? 2 : 1;
            x = bottle ? bottleneck(net, prefix, x, width << s, stride)
                       : basic_block(net, prefix, x, width << s, stride, sc);
        }
    return head(net, x, classes);
}

static int mlp(bb_net *net, int64_t hidden, int64_t classes)
{
    int x = bb_net_relu(net, bb_net_linear(net, "fc1", net->input, hidden, 1));
    x = bb_net_relu(net, bb_net_linear(net, "fc2", x, hidden, 1));
    return bb_net_linear(net, "fc", x, classes, 1);
}

bb_status bb_model_check_name(const char *name)
{
    long depth = 0;
    char tail = 0;
    if (!strcmp(name, "mlp")) return BB_OK;
    if (sscanf(name, "resnet%ld%c", &depth, &tail) == 1 &&
        (depth == 18 || depth == 34 || depth == 50 || depth == 101 || depth == 152 || (depth >= 8 && (depth - 2) % 6 == 0)))
        return BB_OK;
    return bb_fail(BB_ERR_INVALID, "unknown model '%s': expected resnet{18,34,50,101,152} (ImageNet style), "
                   "resnetN with N = 6n+2 >= 8 (CIFAR style: resnet8, resnet20, resnet32, resnet44, "
                   "resnet56, resnet110, ...) or mlp", name);
}

bb_status bb_model_build(bb_net *net, const bb_model_spec *spec)
{
    static const int b18[4] = {2, 2, 2, 2}, b34[4] = {3, 4, 6, 3}, b101[4] = {3, 4, 23, 3},
                     b152[4] = {3, 8, 36, 3};
    if (spec->classes < 2)
        return bb_fail(BB_ERR_INVALID, "model %s: need at least 2 classes, got %lld", spec->name, (long long)spec->classes);
    if (spec->shortcut != 0 && spec->shortcut != 'A' && spec->shortcut != 'B')
        return bb_fail(BB_ERR_INVALID, "model %s: shortcut must be A or B, got '%c'", spec->name, spec->shortcut);
    if (spec->width < 0 || spec->width > 4096)
        return bb_fail(BB_ERR_INVALID, "model %s: width must be in [1, 4096], got %lld", spec->name, (long long)spec->width);
    bb_net_init(net, spec->c, spec->h, spec->w);
    char sc = spec->shortcut;
    const char *family = "MLP";
    int out = -1;
    long depth = 0;
    char tail = 0;
    if (strcmp(spec->name, "mlp") == 0) {
        out = mlp(net, spec->width ? spec->width : 256, spec->classes);
    } else if (sscanf(spec->name, "resnet%ld%c", &depth, &tail) == 1 && depth > 0) {
        const int *im = depth == 18 ? b18 : depth == 34 ? b34 : depth == 50 ? b34 : depth == 101 ? b101
                      : depth == 152 ? b152 : NULL;
        if (im) {
            sc = depth >= 50 ? 'B' : sc ? sc : 'B';
            family = sc == 'A' ? "ImageNet style, option-A shortcuts" : "ImageNet style, projection shortcuts";
            out = imagenet_resnet(net, im, depth >= 50, spec->width ? spec->width : 64, sc, spec->classes);
        } else if (depth >= 8 && (depth - 2) % 6 == 0) {
            sc = sc ? sc : 'A';
            family = sc == 'A' ? "CIFAR style, option-A shortcuts" : "CIFAR style, projection shortcuts";
            out = cifar_resnet(net, (int)((depth - 2) / 6), spec->width ? spec->width : 16, sc, spec->classes);
        }
    }
    if (out < 0 && net->error == BB_OK) {
        bb_net_free(net);
        return bb_model_check_name(spec->name);
    }
    bb_status s = bb_net_finalize(net, out);
    if (s != BB_OK) {
        bb_net_free(net);
        return bb_fail_context(s, "model %s on input %lldx%lldx%lld", spec->name, (long long)spec->c,
                               (long long)spec->h, (long long)spec->w);
    }
    snprintf(net->model_desc, sizeof net->model_desc, "%s (%s, %lldx%lldx%lld -> %lld classes)", spec->name,
             family, (long long)spec->c, (long long)spec->h, (long long)spec->w, (long long)spec->classes);
    return BB_OK;
}

void bb_model_print_summary(const bb_net *net, const bb_model_spec *spec, void *file)
{
    FILE *f = file;
    fprintf(f, "%-28s %-11s %-16s %12s %14s\n", "layer", "type", "output", "params", "MACs");
    for (int i = 0; i < net->nlayers; i++) {
        const bb_layer *l = &net->layers[i];
        const bb_dims *d = &net->tensors[l->out];
        int64_t np = 0, macs = bb_layer_macs(l);
        for (int j = 0; j < l->nparam; j++) np += net->params[l->param0 + j].count;
        if (l->kind == BB_L_RELU || l->kind == BB_L_ADD) continue;
        char shape[32];
        snprintf(shape, sizeof shape, "%lldx%lldx%lld", (long long)d->c, (long long)d->h, (long long)d->w);
        fprintf(f, "%-28s %-11s %-16s %12lld %14lld\n", l->name[0] ? l->name : bb_layer_kinds[l->kind].name,
                bb_layer_kinds[l->kind].name, shape, (long long)np, (long long)macs);
    }
    int64_t macs = bb_net_macs(net);
    fprintf(f, "model: %s\n", net->model_desc);
    fprintf(f, "parameters: %lld (%.2fM)\n", (long long)net->param_count, (double)net->param_count / 1e6);
    fprintf(f, "forward per sample: %lld MACs (%.3f G), %lld FLOPs (2 x MACs, %.1f M)\n", (long long)macs,
            (double)macs / 1e9, (long long)(2 * macs), 2.0 * (double)macs / 1e6);
    (void)spec;
}
