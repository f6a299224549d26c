/* The model zoo: CIFAR-style ResNet-(6n+2), ImageNet-style ResNet-18/34/50/101/152
 * and a small MLP, built for any input shape and class count. */
#ifndef BB_MODEL_MODELS_H
#define BB_MODEL_MODELS_H

#include "model/net.h"

typedef struct {
    char name[32];           /* "resnet20", "resnet50", "mlp", ... */
    int64_t c, h, w;         /* input shape */
    int64_t classes;
    char shortcut;           /* 'A' (zero-pad, CIFAR default) or 'B' (1x1 conv + BN); 0 = default */
    int64_t width;           /* base width; 0 = default (16 CIFAR, 64 ImageNet, 256 MLP) */
} bb_model_spec;

/* Builds and finalizes `net`. Unknown names and impossible shapes fail with a
 * message listing what is accepted. */
bb_status bb_model_build(bb_net *net, const bb_model_spec *spec);

/* BB_OK if `name` is a model bb_model_build knows. */
bb_status bb_model_check_name(const char *name);

/* Prints the layer table, parameter count and forward MACs/FLOPs per sample. */
void bb_model_print_summary(const bb_net *net, const bb_model_spec *spec, void *file);

#endif
