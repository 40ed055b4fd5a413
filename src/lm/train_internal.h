/*
 * train_internal.h - the trainer's model struct, shared by train_gpt2.c,
 * adamw.c, hf_save.c and train_run.c.
 */
#ifndef PERSONA_TRAIN_INTERNAL_H
#define PERSONA_TRAIN_INTERNAL_H

#include "persona/train.h"

struct ps_train_model {
    struct ps_train_config cfg;
    struct ps_train_tensor *tensors;
    size_t n_tensors;
    size_t n_params;
    float *params, *grads;
    float *adam_m, *adam_v;
    long adam_t;
    /* activations for up to act_B x act_T tokens */
    float *act;
    float *a[32];
    int act_B, act_T;
    int B, T;                 /* shape of the last forward */
    int32_t *inputs, *targets;
    int has_targets, have_forward;
    float mean_loss;
    float *scratch;           /* per worker: 2 T floats */
    struct ps_pool *pool;
    int n_workers;
};

#endif
